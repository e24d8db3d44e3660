"""backlog starter: a TCP server that shows the kernel's accept queue.

Listen with the backlog given, accept only when told to, and answer each accepted
client's lines in capitals, on a thread of its own.
Read the full spec with `cargo lab spec backlog`, then check your server, from the
repository's folder (README.md beside this file has the exact commands):

    cargo lab check backlog --server 'python3 my-backlog/server.py --port {port} {args}'

Python 3, standard library only. Fill in the TODOs; each names the scenario that checks it.
"""
import argparse
import socket
import sys
import threading
import time

parser = argparse.ArgumentParser(description="TCP backlog demo server")
parser.add_argument("--port", type=int, required=True, help="TCP port to bind on 127.0.0.1")
parser.add_argument("--backlog", type=int, required=True, help="the value passed to listen()")
parser.add_argument("--accept", nargs="+", default=["never"],
                    help="never | on-enter | after SECS")
parser.add_argument("--defer-accept", type=int, help="TCP_DEFER_ACCEPT in seconds (Linux)")
args = parser.parse_args()
if not (args.accept in (["never"], ["on-enter"]) or (args.accept[0] == "after" and len(args.accept) == 2)):
    parser.error("--accept takes never, on-enter or after SECS")


def serve(conn):
    """Answer each whole line with the same line in capitals and a \\n."""
    with conn:
        # TODO (bytes_sent_while_queued_are_answered_once_accepted): loop on recv; keep a
        #   buffer, answer every whole line (up to \n) in it, keep the rest for the next
        #   read. Stop when recv returns b"".
        pass


sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", args.port))
if args.defer_accept is not None:
    # TODO (the_syn_queue_is_bounded_by_the_backlog_too): set socket.TCP_DEFER_ACCEPT
    #   to args.defer_accept (level socket.IPPROTO_TCP) before listen.
    pass
# TODO (exactly_backlog_plus_one_connects_complete, a_connect_to_a_full_queue_sends_its_syn_again):
#   listen with exactly args.backlog, not a default.
sock.listen()
port = sock.getsockname()[1]
print(f"listening on tcp://127.0.0.1:{port}", flush=True)

mode = args.accept[0]
if mode == "never":
    # Never accept: the kernel's queue fills up. Just wait.
    while True:
        time.sleep(3600)
elif mode == "on-enter":
    for line in sys.stdin:
        # TODO (each_accept_frees_one_slot): accept once for each line read on stdin,
        #   and serve that client on a thread of its own.
        pass
    sys.exit(0)  # stdin ended
elif mode == "after":
    time.sleep(float(args.accept[1]))
    while True:
        # TODO (backlog_one_serves_fifty_clients): accept every client as it comes, and
        #   serve each on a thread of its own (threading.Thread(..., daemon=True)).
        time.sleep(1)  # remove this once you accept here
