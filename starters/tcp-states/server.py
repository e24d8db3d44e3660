"""tcp-states starter: a TCP echo server that leaves no connection behind.

Echo each line back; close a connection once its client has closed it; close first when a
client sends the line q; survive a client's reset; restart at once on the same port.
Read the full spec with `cargo lab spec tcp-states`, then check your server, from the
repository's folder (README.md beside this file has the exact commands):

    cargo lab check tcp-states --server 'python3 my-tcp-states/server.py --port {port} {args}'

Python 3, standard library only. Fill in the TODOs; each names the scenario that checks it.
While it runs, `ss -tan` (or `cat /proc/net/tcp`) shows its sockets' states.
"""
import argparse
import socket
import sys

parser = argparse.ArgumentParser(description="TCP echo server that closes what its clients closed")
parser.add_argument("--port", type=int, required=True, help="TCP port to bind on 127.0.0.1")
args = parser.parse_args()


def serve(conn):
    """Serve one client, from accept to the end of its connection."""
    # TODO (a_closed_client_leaves_no_close_wait): loop: recv; a recv of 0 bytes means the
    #   client closed (its end of stream). Close this socket then: until you do, the kernel
    #   keeps it in CLOSE_WAIT, for as long as your program runs.
    # TODO (a_half_closed_client_still_gets_its_answer): send back each line (up to and
    #   including its \n) as it completes; at the end of the stream, send back what came
    #   after the last \n too, before you close: the client may have only half-closed.
    # TODO (the_side_that_closes_first_waits_in_time_wait): the line q is not sent back:
    #   close the connection (a plain close(): your end then waits in TIME_WAIT).
    # TODO (a_reset_leaves_no_time_wait_and_the_server_goes_on): a client that resets makes
    #   recv raise ConnectionResetError: catch it, log it on sys.stderr, close this socket.
    conn.close()


sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
# TODO (the_server_restarts_at_once_on_its_port): set SO_REUSEADDR here, before bind, or a
#   restart fails with "Address already in use" while an old connection is in TIME_WAIT.
sock.bind(("127.0.0.1", args.port))
sock.listen()
# The ready line, once listen() has returned (the_handshake_completes_before_accept).
print(f"listening on tcp://127.0.0.1:{sock.getsockname()[1]}", flush=True)

while True:
    conn, addr = sock.accept()
    serve(conn)
