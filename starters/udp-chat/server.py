"""udp-chat starter: the waiting end of a UDP peer chat.

It learns its peer from the first datagram and chats with that peer only; its operator
types on stdin. Read the full spec with `cargo lab spec udp-chat`, then check it with:

    cargo lab check udp-chat --server 'python3 my-udp-chat/server.py --port {port} {args}'

Python 3, standard library only. Fill in the TODOs; each names the scenario that checks it.
"""
import argparse
import socket
import sys
import threading

parser = argparse.ArgumentParser(description="UDP peer chat, waiting end")
parser.add_argument("--port", type=int, required=True, help="UDP port to bind on 127.0.0.1")
parser.add_argument("--mode", choices=["lockstep", "duplex"], default="lockstep")
args = parser.parse_args()

QUIT_WORDS = {"q", "88"}  # in any case

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", args.port))
port = sock.getsockname()[1]
print(f"listening on udp://127.0.0.1:{port}", flush=True)

peer = None  # the address of whoever sent the first datagram


def typing():
    """Duplex mode: send each line typed on stdin at once."""
    # TODO (in_duplex_either_side_types_at_any_time): for each line on sys.stdin, send it
    #   (without its newline) to the peer as one datagram, once the peer is known.
    # TODO (a_quit_word_from_either_side_ends_the_chat): a typed quit word is sent, then
    #   the server exits 0; at the end of stdin, send a quit word and exit 0 too.
    pass


if args.mode == "duplex":
    threading.Thread(target=typing, daemon=True).start()

while True:
    try:
        data, addr = sock.recvfrom(65535)
    except ConnectionRefusedError:
        continue  # our last send was refused: nobody there any more; wait for the next
    # TODO (a_stranger_cannot_cut_into_the_chat): the first sender becomes the peer;
    #   after that, pass over any datagram whose addr is not the peer's.
    # TODO (either_side_may_start_first): print the peer's line on stdout, e.g.
    #   print("client:", text, flush=True), with text = data.decode("utf-8", "replace").
    # TODO (a_quit_word_from_either_side_ends_the_chat): a quit word from the peer
    #   (text.strip().lower() in QUIT_WORDS) ends the chat: exit 0.
    # TODO (in_lockstep_the_server_waits_for_its_turn): in lockstep, now read one line
    #   from sys.stdin and send it to the peer, then go back to waiting for the peer.
