"""reliable starter: the receiving end of a reliable transfer over UDP.

A sender numbers each line (`SSSS DATA N LINE`, SSSS a checksum); a lossy link between you
loses, copies, reorders and corrupts datagrams. Print each line exactly once, in order, and
acknowledge every datagram (`SSSS ACK M`) so that the sender knows what to send again.
Read the full spec with `cargo lab spec reliable`, then check your receiver, from the
repository's folder (README.md beside this file has the exact commands):

    cargo lab check reliable --server 'python3 my-reliable/server.py --port {port} {args}'

Python 3, standard library only. Fill in the TODOs; each names the scenario that checks it.
"""
import argparse
import socket
import sys

parser = argparse.ArgumentParser(description="reliable receiver")
parser.add_argument("--port", type=int, required=True, help="UDP port to bind on 127.0.0.1")
parser.add_argument("--naive", action="store_true", help="UDP alone: bare lines, no ACKs")
args = parser.parse_args()

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", args.port))
port = sock.getsockname()[1]
print(f"listening on udp://127.0.0.1:{port}", flush=True)

# TODO (the_sender_gives_up_once_the_receiver_has_quit): when stdin ends, the user has
#   quit: exit with status 0. Read stdin on a thread of its own (or use select), since
#   the loop below waits in recvfrom.


def checksum(body):
    # TODO (a_corrupted_datagram_is_discarded_not_delivered): the Internet checksum
    #   (RFC 1071): add the bytes as 16-bit big-endian words (pad an odd last byte with a
    #   zero), fold each carry back in, invert; keep 16 bits. "DATA 0 hello" gives 0x5509.
    return 0


def ack(next_number):
    body = b"ACK %d" % next_number
    return b"%04x " % checksum(body) + body


while True:
    datagram, sender = sock.recvfrom(65536)
    # TODO (the_pinger_counts_exactly_the_pings_the_link_dropped): a datagram that starts
    #   with b"ping " goes back unchanged to the sender, at once.
    # TODO (without_acknowledgements_lost_lines_stay_lost): with args.naive the datagram
    #   is the line itself: print it, answer nothing.
    # TODO (a_corrupted_datagram_is_discarded_not_delivered): split off the first five
    #   bytes (four hex digits and a space); if they do not match checksum(body), the
    #   datagram was damaged: discard it, print nothing, answer nothing.
    # TODO (stop_and_wait_delivers_every_line_once_in_order,
    #   each_sender_is_a_stream_of_its_own): the body is b"DATA N LINE".
    #   Keep the next number you expect per sender address (0 at first); print LINE only
    #   when N is that number (then expect N + 1), with print(..., flush=True).
    # TODO (a_lost_ack_brings_a_copy_that_is_acknowledged_again): answer every DATA that
    #   passed the checksum, a copy too, with sock.sendto(ack(expected), sender).
    # TODO (go_back_n_keeps_a_window_of_lines_in_flight): after a gap (N bigger than
    #   expected), print nothing and answer with the number you still expect.
    print(datagram.decode("utf-8", "replace"), flush=True)
