"""sticky starter: TCP is a byte stream, not messages; framing puts them back.

Read each connection as told (--read-size, --read-delay), print every read and every
message decoded in the --framing given. Read the full spec (the output format, the
framings) with `cargo lab spec sticky`, then check your server, from the repository's
folder (README.md beside this file has the exact commands):

    cargo lab check sticky --server 'python3 my-sticky/server.py --port {port} {args}'

Python 3, standard library only. Fill in the TODOs; each names the scenario that checks it.
"""
import argparse
import socket
import sys
import time

parser = argparse.ArgumentParser(description="TCP framing lab server")
parser.add_argument("--port", type=int, required=True, help="port to bind on 127.0.0.1")
parser.add_argument("--framing", choices=["raw", "gap", "delimiter", "length"], default="raw")
parser.add_argument("--read-size", type=int, default=1024, help="at most N bytes per read")
parser.add_argument("--read-delay", type=int, default=0, help="sleep MS before each read")
parser.add_argument("--max", type=int, default=1024 * 1024, help="longest line/frame")
parser.add_argument("--transport", choices=["tcp", "udp"], default="tcp")
args = parser.parse_args()


def box(data):
    """Show bytes as the checker expects: [text], with escapes for the rest."""
    out = ""
    for ch in data.decode("utf-8", errors="surrogateescape"):
        if "\udc80" <= ch <= "\udcff":           # a byte that is not UTF-8
            out += "\\x%02x" % (ord(ch) - 0xDC00)
        elif ch in "\\[]":
            out += "\\" + ch
        elif ch in "\n\r\t":
            out += {"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch]
        elif ord(ch) < 32 or ord(ch) == 127:
            out += "\\x%02x" % ord(ch)
        else:
            out += ch
    return "[" + out + "]"


def read(sock):
    time.sleep(args.read_delay / 1000)
    data = sock.recv(args.read_size)
    print(f"recv {len(data)} bytes {box(data)}", flush=True)
    return data


if args.transport == "udp":
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", args.port))
    print(f"listening on udp://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    while True:
        data = read(sock)
        # TODO (udp_keeps_every_datagram_whole): print one message line per datagram.
    sys.exit(0)

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", args.port))
server.listen()
print(f"listening on tcp://127.0.0.1:{server.getsockname()[1]}", flush=True)

while True:
    conn, addr = server.accept()
    with conn:
        while True:
            try:
                data = read(conn)
            except ConnectionError as error:  # a reset ends this connection, not the server
                print(f"connection from {addr} ended: {error}", file=sys.stderr, flush=True)
                break
            if not data:
                # TODO (a_frame_cut_off_by_the_peer_is_reported): if a line or frame is
                #   unfinished, say so on stderr, e.g. "truncated: got 2 of 5 bytes".
                break
            # TODO (short_messages_stick_together_in_a_slow_reader,
            #   a_long_message_arrives_in_pieces_cut_mid_character,
            #   a_pause_between_writes_is_not_a_framing): raw and gap: each read is one
            #   message; print(f"message {box(data)}", flush=True).
            # TODO (delimiter_framing_survives_any_rechunking): delimiter: keep a buffer;
            #   print a message for each \n-ended line, keep the rest for the next read.
            # TODO (an_over_long_line_is_refused): a line longer than args.max with no \n
            #   yet: say why on stderr and close this connection (the next is served).
            # TODO (length_framing_survives_any_rechunking): length: a 4-byte big-endian
            #   length (int.from_bytes), then that many bytes; keep partial headers/bodies.
            # TODO (an_over_sized_length_is_refused_from_the_header): a header over
            #   args.max: refuse at once, on stderr, and close this connection.
