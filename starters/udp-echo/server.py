"""udp-echo starter: a UDP echo server.

Every datagram that arrives goes back, unchanged, to the address it came from.
Read the full spec with `cargo lab spec udp-echo`, then check your server, from the
repository's folder (README.md beside this file has the exact commands):

    cargo lab check udp-echo --server 'python3 my-udp-echo/server.py --port {port} {args}'

Python 3, standard library only. Fill in the TODOs; each names the scenario that checks it.
"""
import argparse
import socket

parser = argparse.ArgumentParser(description="UDP echo server")
parser.add_argument("--port", type=int, required=True, help="UDP port to bind on 127.0.0.1")
parser.add_argument("--buf", type=int, default=65536, help="receive buffer size in bytes")
args = parser.parse_args()

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", args.port))
port = sock.getsockname()[1]
print(f"listening on udp://127.0.0.1:{port}", flush=True)

while True:
    # TODO (a_datagram_longer_than_the_buffer_is_cut): receive into a buffer of args.buf
    #   bytes, not 1024. A longer datagram is cut: echo what you got, and do not read
    #   again for the rest.
    data, addr = sock.recvfrom(1024)
    # TODO (an_empty_datagram_is_a_message): 0 bytes on UDP is not an end; echo it too.
    # TODO (two_clients_get_only_their_own_replies, datagrams_keep_their_boundaries):
    #   answer with one sendto per recvfrom, to the address recvfrom gave you.
    # TODO (bad_input_does_not_stop_the_server): any bytes, any size up to 65,507;
    #   nothing a client sends may stop this loop (do not decode the bytes).
    # TODO (a_datagram_sent_before_the_server_starts_is_lost): nothing more to write:
    #   it passes once your server echoes every datagram; read what its transcript shows.
