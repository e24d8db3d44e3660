"""udp-group starter: a UDP chat room (or, with --mode relay, a plain relay).

Members register a nickname, each message goes to every member, and a line typed on
the server's stdin (the owner) goes to everyone. The full room protocol (N, M, Q, W,
OK and ERR) is in `cargo lab spec udp-group`. Check your server, from the repository's
folder (README.md beside this file has the exact commands):

    cargo lab check udp-group --server 'python3 my-udp-group/server.py --port {port} {args}'

Python 3, standard library only. Fill in the TODOs; each names the scenario that checks it.
"""
import argparse
import socket
import sys
import threading

parser = argparse.ArgumentParser(description="UDP chat room")
parser.add_argument("--port", type=int, required=True, help="UDP port to bind on 127.0.0.1")
parser.add_argument("--mode", choices=["room", "relay"], default="room")
parser.add_argument("--max-members", type=int, default=1000, help="at most this many members")
args = parser.parse_args()

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", args.port))
port = sock.getsockname()[1]
print(f"listening on udp://127.0.0.1:{port}", flush=True)

heard = []     # relay mode: every address ever heard from
members = {}   # room mode: name -> address (you may want address -> name too)
# The owner's thread reads `members` while the main loop changes it: hold this lock for
# both, or the owner's loop can fail with "dictionary changed size during iteration".
room = threading.Lock()


def owner():
    """Read the owner's lines from stdin."""
    for line in sys.stdin:
        # TODO (the_owner_speaks_to_everyone): send the line (e.g. "[owner] " + line,
        #   without its newline) to every member, holding `room` while you go through them.
        pass


threading.Thread(target=owner, daemon=True).start()

while True:
    data, addr = sock.recvfrom(65535)
    if args.mode == "relay":
        # TODO (relay_mode_relays_to_every_known_address): remember addr if it is new,
        #   then send data to every address ever heard from, the sender included.
        continue
    # TODO (bad_input_gets_err_and_the_room_goes_on): empty, over 1024 bytes, not UTF-8
    #   (catch UnicodeDecodeError), an unknown first letter or a bad name: answer
    #   b"ERR <reason>" to addr and go on.
    # TODO (registering_gets_exactly_ok): "N <name>": answer exactly b"OK".
    # TODO (the_join_notice_reaches_the_others_not_the_newcomer): then tell every
    #   other member that the name joined.
    # TODO (a_taken_name_is_refused_and_its_owner_keeps_it): a taken name gets ERR.
    # TODO (a_repeated_registration_is_idempotent): the same name from the same address
    #   gets OK again and no second notice; a second name from that address gets ERR.
    # TODO (a_full_room_refuses_newcomers): a newcomer to a room of args.max_members gets ERR.
    # TODO (a_message_arrives_byte_for_byte_at_every_member): "M <name> <text>": send
    #   "<name>: <text>" to every member, the sender included, text unchanged.
    # TODO (impersonation_is_rejected_and_nothing_is_broadcast): for M and Q, the name
    #   must be the one registered from addr (the address recvfrom gave); if not, ERR.
    # TODO (a_leave_notice_reaches_the_others): "Q <name>": remove the member and tell
    #   the others that the name left.
    # TODO (the_lab_client_chats_through_the_server): "W": answer the sender alone with
    #   the members' names, comma-separated, in one datagram.
