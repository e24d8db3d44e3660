"""tcp-chat starter: the server's end of a one-to-one TCP chat.

Its operator types on stdin, and what the client says shows on stdout. One client at a
time; the next waits in the accept queue. Read the full spec with `cargo lab spec
tcp-chat`, then check your server with:

    cargo lab check tcp-chat --server 'python3 my-tcp-chat/server.py --port {port} {args}'

Python 3, standard library only. Fill in the TODOs; each names the scenario that checks it.
"""
import argparse
import socket
import sys
import threading

parser = argparse.ArgumentParser(description="one-to-one TCP chat, server end")
parser.add_argument("--port", type=int, required=True, help="TCP port to bind on 127.0.0.1")
parser.add_argument("--mode", choices=["lockstep", "duplex"], default="lockstep")
args = parser.parse_args()

QUIT_WORDS = {"q", "88"}  # in any case
MAX_LINE = 1024 * 1024    # a longer line ends the conversation, not the server


def converse(conn):
    """Chat with one client until a quit word from either side."""
    # TODO (a_long_line_arrives_whole_up_to_the_bound): keep a buffer across reads and
    #   print only whole lines (up to \n); a 100 KB line arrives in many reads. If the
    #   buffer grows past MAX_LINE with no \n, end this conversation.
    # TODO (in_lockstep_the_client_speaks_first_then_they_take_turns): in lockstep, wait
    #   for the client's line, print it, then read one line from sys.stdin and send it
    #   (with its \n); repeat.
    # TODO (in_duplex_either_side_types_at_any_time): in duplex, send each typed line at
    #   once and print each arriving line at once (a thread for stdin, or selectors).
    # TODO (a_quit_word_from_either_side_ends_the_conversation): a quit word typed or
    #   received (line.strip().lower() in QUIT_WORDS) ends this conversation.
    # TODO (spec: no scenario checks this): at the end of stdin, send a
    #   quit word to the client and exit 0.
    pass


sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", args.port))
sock.listen()
port = sock.getsockname()[1]
print(f"listening on tcp://127.0.0.1:{port}", flush=True)

while True:
    # TODO (the_client_is_refused_until_the_server_runs): nothing more to write: it
    #   passes once your server prints the client's line and sends the line typed on
    #   its stdin, newline included; read what its transcript shows.
    conn, addr = sock.accept()
    with conn:
        # TODO (the_next_client_is_served_after_a_quit_and_loses_nothing): serve one
        #   client to its quit, then come back here for the next one, who may already
        #   have sent lines while waiting in the queue.
        converse(conn)
