"""upper starter: a TCP server that upper-cases what each client sends.

Send back, upper-cased, every byte each client sends, until that client closes.
Read the full spec with `cargo lab spec upper`, then check your server, from the
repository's folder (README.md beside this file has the exact commands):

    cargo lab check upper --server 'python3 my-upper/server.py --port {port} {args}'

Python 3, standard library only. Fill in the TODOs; each names the scenario that checks it.
"""
import argparse
import socket
import sys
import threading

parser = argparse.ArgumentParser(description="TCP upper-casing server")
parser.add_argument("--port", type=int, required=True, help="TCP port to bind on 127.0.0.1")
parser.add_argument("--mode", choices=["iterative", "threaded"], default="iterative")
args = parser.parse_args()


def serve(conn, addr):
    """Serve one client, from accept to its close."""
    with conn:
        # TODO (bytes_come_back_upper_cased): loop: recv, upper-case the bytes as UTF-8
        #   text, sendall the result. There are no lines: answer each read as it comes.
        # TODO (a_character_split_across_reads_is_upper_cased): a character's bytes may be
        #   cut between two reads; keep its first bytes for the next read
        #   (codecs.getincrementaldecoder may help). Non-UTF-8 bytes go back as they came.
        # TODO (a_half_closed_client_still_gets_every_reply, an_empty_session_is_clean):
        #   a recv of 0 bytes is the client's close: send what is left, then close.
        # TODO (a_vanished_client_does_not_stop_the_server): catch a reset (OSError),
        #   log it on sys.stderr, and end only this connection.
        pass


sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", args.port))
sock.listen()
port = sock.getsockname()[1]
print(f"listening on tcp://127.0.0.1:{port}", flush=True)

while True:
    conn, addr = sock.accept()
    if args.mode == "iterative":
        # TODO (the_next_client_waits_until_the_first_leaves): serve this client to its
        #   close before accepting the next; the next one waits in the accept queue.
        serve(conn, addr)
    else:
        # TODO (fifty_clients_are_answered_at_once): serve each client on a thread of
        #   its own (threading.Thread(target=serve, args=..., daemon=True)).
        serve(conn, addr)
