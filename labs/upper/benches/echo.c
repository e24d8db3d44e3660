/* upper's benchmark reference: the plainest TCP echo server there is, in C. One client at a
 * time, read up to 64 KiB (upper's buffer), write it all back, until the client closes.
 * No upper-casing: the bytes go back as they came, so this is what loopback allows.
 *
 *     cc -O2 -o echo echo.c && ./echo --port 0
 *
 * Prints the labs' ready line, "listening on tcp://127.0.0.1:PORT". The bench compiles and
 * starts it (labs/upper/benches/upper.rs). */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Send all `len` bytes, however many writes it takes; MSG_NOSIGNAL: a client gone is an error
 * for this connection, not a SIGPIPE for the server. */
static int send_all(int fd, const char *bytes, size_t len) {
    while (len > 0) {
        ssize_t sent = send(fd, bytes, len, MSG_NOSIGNAL);
        if (sent < 0) return -1;
        bytes += sent;
        len -= (size_t)sent;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3 || strcmp(argv[1], "--port") != 0) {
        fprintf(stderr, "usage: %s --port N\n", argv[0]);
        return 2;
    }
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int on = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(argv[2]));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 128) != 0) {
        perror("error: binding tcp://127.0.0.1");
        return 1;
    }
    socklen_t addr_len = sizeof addr;
    getsockname(listener, (struct sockaddr *)&addr, &addr_len);
    printf("listening on tcp://127.0.0.1:%d\n", ntohs(addr.sin_port));
    fflush(stdout);

    static char buf[64 * 1024];
    for (;;) {
        int client = accept(listener, NULL, NULL);
        if (client < 0) continue;
        ssize_t got;
        while ((got = read(client, buf, sizeof buf)) > 0) {
            if (send_all(client, buf, (size_t)got) != 0) break;
        }
        close(client);
    }
}
