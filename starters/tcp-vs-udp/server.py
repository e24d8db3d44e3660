"""tcp-vs-udp starter: a sink and a request server, over UDP or TCP.

Count numbered `data` records, answer `report` with what you received, the gaps in the
numbering and the kernel's drop count, and answer `work MS TAG` after MS milliseconds.
Read the full spec with `cargo lab spec tcp-vs-udp`, then check your server, from the
repository's folder (README.md beside this file has the exact commands):

    cargo lab check tcp-vs-udp --server 'python3 my-tcp-vs-udp/server.py --port {port} {args}'

Python 3, standard library only, Linux for SO_RXQ_OVFL. Fill in the TODOs; each names the
scenario that checks it.
"""
import argparse
import socket
import struct
import sys
import threading
import time

# Linux's SO_RXQ_OVFL (include/uapi/asm-generic/socket.h); Python's socket module has no name for it.
SO_RXQ_OVFL = 40

parser = argparse.ArgumentParser(description="a sink and a request server, over UDP or TCP")
parser.add_argument("--port", type=int, required=True, help="port to bind on 127.0.0.1")
parser.add_argument("--proto", choices=["udp", "tcp"], default="udp")
parser.add_argument("--mode", choices=["iterative", "threaded"], default="iterative")
parser.add_argument("--read-delay", type=int, default=0, help="ms to sleep before each receive")
parser.add_argument("--rcvbuf", type=int, help="SO_RCVBUF, in bytes")
args = parser.parse_args()


def answer_to(message, drops):
    """The answer to one message (bytes), or None for a data record.

    `drops` is the kernel's count of datagrams dropped on the socket so far (0 over TCP).
    """
    # TODO (udp_into_a_napping_sink_loses_what_the_kernel_drops): `data SEQ ...` is counted:
    #   how many arrived since record 0, the highest SEQ seen, the drops when record 0 came.
    #   `report [SEQ]` (a SEQ makes it a record too) is answered
    #   "received R gaps G drops D": G the numbers missing below the highest seen.
    # TODO (a_quick_request_waits_behind_a_slow_one): `work MS TAG`: sleep MS ms, answer "done TAG".
    # TODO (bad_messages_are_answered_and_the_server_goes_on): anything else, or MS over 10000,
    #   or bytes that are not UTF-8, is answered with "error: ..." and the server goes on.
    return b"error: not written yet"


def serve_udp():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # TODO (udp_into_a_napping_sink_loses_what_the_kernel_drops): set SO_RCVBUF to --rcvbuf
    #   (before bind), and SO_RXQ_OVFL to 1, so that the kernel says how many it dropped.
    sock.bind(("127.0.0.1", args.port))
    print(f"listening on udp://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    while True:
        # TODO (udp_into_a_napping_sink_loses_what_the_kernel_drops): sleep --read-delay ms
        #   before each receive; receive with sock.recvmsg(65536, socket.CMSG_SPACE(4)), and
        #   read the drop count from the (SOL_SOCKET, SO_RXQ_OVFL) item: struct.unpack("I", ...).
        data, sender = sock.recvfrom(65536)
        # TODO (a_thread_per_request_answers_the_quick_one_first): with --mode threaded, do a
        #   work request on a thread of its own and go straight back to receive.
        reply = answer_to(data, 0)
        if reply is not None:
            sock.sendto(reply, sender)


def serve_tcp():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # TODO (tcp_into_a_napping_sink_loses_nothing_and_holds_the_sender): set SO_RCVBUF to
    #   --rcvbuf before listen.
    sock.bind(("127.0.0.1", args.port))
    sock.listen()
    print(f"listening on tcp://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    while True:
        conn, _ = sock.accept()
        # TODO (a_new_connection_per_request_opens_one_connection_each): after a client
        #   closes, come back here for the next; with --mode threaded, a thread per connection.
        serve_connection(conn)


def serve_connection(conn):
    with conn:
        # TODO (tcp_into_a_napping_sink_loses_nothing_and_holds_the_sender): sleep
        #   --read-delay ms before each recv; a recv returns any piece of the stream, so keep
        #   what follows the last newline for the next recv, and answer each line in turn.
        # TODO (a_kept_connection_carries_every_request): answer every line on this
        #   connection (each answer a line); stop only when recv returns b"" (the client closed).
        pass


serve_udp() if args.proto == "udp" else serve_tcp()
