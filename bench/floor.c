/*
 * floor: the least a server can do for the benchmark's /hello requests, to
 * measure what the kernel alone costs per request (bench/floor.sh).
 *
 *   floor PORT [ignored...]
 *
 * Not an HTTP server. One thread, edge-triggered epoll on 127.0.0.1:PORT:
 * every recv() that returns bytes is answered with one canned 200 response
 * (no parsing, no routing, no Date, no buffering of partial requests), and
 * the connection is closed after it when the bytes hold "Connection: close".
 * The syscalls are the ones microroute and nginx make for these requests
 * (accept4, epoll_ctl, epoll_wait, recv, send, close), so its kernel time
 * per request is what the kernel charges any server for them, and its user
 * time what the calls alone cost in user space. Exits on SIGTERM (default
 * action).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static const char KEEP[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";
static const char CLOSE[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";

static int die(const char *what) {
    perror(what);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "bad port: %s\n", argv[1]);
        return 2;
    }
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        return die("socket");
    int one = 1;
    /* Accepted sockets inherit TCP_NODELAY on Linux, as in microroute. */
    if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        return die("setsockopt");
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0)
        return die("bind");
    if (listen(lfd, 4096) < 0)
        return die("listen");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return die("epoll_create1");
    struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0)
        return die("epoll_ctl");
    printf("listening on 127.0.0.1:%d\n", port);
    fflush(stdout);

    static struct epoll_event events[512];
    static char buf[16384];
    for (;;) {
        int n = epoll_wait(ep, events, 512, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                int c;
                while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.fd = c};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) < 0)
                        close(c);
                }
                continue;
            }
            ssize_t r = recv(fd, buf, sizeof buf - 1, 0);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r <= 0) {
                close(fd);
                continue;
            }
            buf[r] = '\0';
            if (strstr(buf, "Connection: close")) {
                (void)send(fd, CLOSE, sizeof CLOSE - 1, MSG_NOSIGNAL);
                close(fd);
            } else {
                (void)send(fd, KEEP, sizeof KEEP - 1, MSG_NOSIGNAL);
            }
        }
    }
}
