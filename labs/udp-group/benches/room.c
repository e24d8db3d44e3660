/* udp-group's benchmark reference: the room's fan-out in C, as fast as a plain server makes it.
 * Only what the bench uses of the room protocol: `N name` (answered `OK`, and `* name joined`
 * to the others) and `M name text` (`name: text` to every member, sender included); anything
 * else is answered `ERR`. Each broadcast is one sendmmsg(2) call (Linux): every member's
 * datagram handed to the kernel at once, MSG_DONTWAIT as in the lab. No log, no console.
 *
 *     cc -O2 -o room room.c && ./room --port 0
 *
 * Prints the labs' ready line, "listening on udp://127.0.0.1:PORT". The bench compiles and
 * starts it (labs/udp-group/benches/udp-group.rs). */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_MEMBERS 1000
#define MAX_NAME 32
#define MAX_DATAGRAM 1024

struct member {
    struct sockaddr_in addr;
    char name[MAX_NAME + 1];
};

static struct member members[MAX_MEMBERS];
static int member_count;
static struct mmsghdr headers[MAX_MEMBERS];

static int same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b) {
    return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
}

static struct member *by_addr(const struct sockaddr_in *addr) {
    for (int i = 0; i < member_count; i++)
        if (same_addr(&members[i].addr, addr)) return &members[i];
    return NULL;
}

static struct member *by_name(const char *name) {
    for (int i = 0; i < member_count; i++)
        if (strcmp(members[i].name, name) == 0) return &members[i];
    return NULL;
}

static void reply(int fd, const struct sockaddr_in *to, const char *text) {
    sendto(fd, text, strlen(text), MSG_DONTWAIT, (const struct sockaddr *)to, sizeof *to);
}

/* One datagram to every member but `but` (NULL: to all), in as few sendmmsg calls as it takes.
 * A member the kernel refused is skipped, as the lab skips it. */
static void broadcast(int fd, const struct sockaddr_in *but, const char *text, size_t len) {
    struct iovec iov = {(void *)text, len};
    unsigned count = 0;
    for (int i = 0; i < member_count; i++) {
        if (but && same_addr(&members[i].addr, but)) continue;
        struct msghdr *msg = &headers[count++].msg_hdr;
        memset(msg, 0, sizeof *msg);
        msg->msg_name = &members[i].addr;
        msg->msg_namelen = sizeof members[i].addr;
        msg->msg_iov = &iov;
        msg->msg_iovlen = 1;
    }
    for (unsigned next = 0; next < count;) {
        int sent = sendmmsg(fd, headers + next, count - next, MSG_DONTWAIT);
        next += sent > 0 ? (unsigned)sent : 1;
    }
}

int main(int argc, char **argv) {
    if (argc != 3 || strcmp(argv[1], "--port") != 0) {
        fprintf(stderr, "usage: %s --port N\n", argv[0]);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(argv[2]));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("error: binding udp://127.0.0.1");
        return 1;
    }
    socklen_t addr_len = sizeof addr;
    getsockname(fd, (struct sockaddr *)&addr, &addr_len);
    printf("listening on udp://127.0.0.1:%d\n", ntohs(addr.sin_port));
    fflush(stdout);

    char buf[MAX_DATAGRAM + 1], out[MAX_DATAGRAM + 64];
    for (;;) {
        struct sockaddr_in from;
        socklen_t from_len = sizeof from;
        ssize_t len = recvfrom(fd, buf, MAX_DATAGRAM, 0, (struct sockaddr *)&from, &from_len);
        if (len < 0) continue;
        buf[len] = '\0';
        struct member *sender = by_addr(&from);
        if (strncmp(buf, "N ", 2) == 0) {
            const char *name = buf + 2;
            struct member *owner = by_name(name);
            if (sender && owner == sender) {
                reply(fd, &from, "OK");
            } else if (sender || owner || strlen(name) == 0 || strlen(name) > MAX_NAME ||
                       member_count == MAX_MEMBERS) {
                reply(fd, &from, "ERR name taken, bad or room full");
            } else {
                struct member *joined = &members[member_count++];
                joined->addr = from;
                strcpy(joined->name, name);
                reply(fd, &from, "OK");
                int n = snprintf(out, sizeof out, "* %s joined", name);
                broadcast(fd, &from, out, (size_t)n);
            }
        } else if (strncmp(buf, "M ", 2) == 0) {
            char *name = buf + 2, *space = strchr(name, ' ');
            if (!space || !sender) {
                reply(fd, &from, "ERR M needs a registered name and a text");
                continue;
            }
            *space = '\0';
            if (strcmp(sender->name, name) != 0) {
                reply(fd, &from, "ERR that name is not yours");
                continue;
            }
            int n = snprintf(out, sizeof out, "%s: %s", name, space + 1);
            broadcast(fd, NULL, out, (size_t)n);
        } else {
            reply(fd, &from, "ERR expected N or M");
        }
    }
}
