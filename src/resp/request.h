/* The RESP request parser: bytes from one client connection in, commands out.
 *
 * A connection's bytes arrive in pieces of any size. The parser keeps them in its own
 * input buffer (struct buf, owned) and turns them into commands, each an argc/argv of
 * borrowed byte slices, accepting the two request forms Redis accepts:
 *   - multibulk: "*<argc>\r\n" then argc times "$<len>\r\n<len bytes>\r\n";
 *   - inline: one line ending in "\n" (a "\r" before it is dropped), split into words
 *     like Redis's sdssplitargs: spaces separate words; "double quotes" understand
 *     \n \r \t \b \a \\ \" and \xHH; 'single quotes' understand \' only; a closing quote
 *     must be followed by a space or the end of the line. An empty line is skipped.
 * "*0" and negative multibulk counts are skipped as Redis skips them. Many commands may
 * arrive in one read (pipelining); resp_parser_next() returns them one at a time.
 *
 * Limits (STYLE rule 6) are named in struct resp_limits and checked before they drive
 * an allocation or a loop: the multibulk count, the bulk length, the length of an inline
 * request or of a "*"/"$" header line, and the bytes buffered for unfinished commands.
 * Memory grows only with bytes actually received, never with a length a client claims.
 *
 * On a protocol error the parser becomes failed for good: every later call returns the
 * same negative code, and resp_parser_error() gives Redis's own error text (without the
 * leading '-' and the CRLF; writer.h's resp_write_error adds them). The server sends it
 * and closes that connection only. Error texts:
 *   ERR Protocol error: invalid multibulk length
 *   ERR Protocol error: invalid bulk length
 *   ERR Protocol error: expected '$', got 'x'
 *   ERR Protocol error: too big mbulk count string
 *   ERR Protocol error: too big bulk count string
 *   ERR Protocol error: too big inline request
 *   ERR Protocol error: unbalanced quotes in request
 *   ERR Protocol error: query buffer limit reached   (Chorus's; Redis closes silently)
 *   ERR out of memory                                (allocation failed)
 *
 * A pure module: no I/O, no clock. Depends on base only. */
#ifndef CHORUS_RESP_REQUEST_H
#define CHORUS_RESP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* Redis's own limit on the number of arguments of one command. */
#define RESP_MULTIBULK_COUNT_MAX_DEFAULT (1024 * 1024)
/* Redis allows 512 MiB (proto-max-bulk-len); Chorus defaults lower. */
#define RESP_BULK_SIZE_BYTES_MAX_DEFAULT (64 * 1024 * 1024)
/* Redis's PROTO_INLINE_MAX_SIZE: an inline request, or a "*"/"$" header line. */
#define RESP_INLINE_SIZE_BYTES_MAX_DEFAULT (64 * 1024)
/* Bytes held for commands not yet returned; room for two maximal bulks. */
#define RESP_BUFFERED_BYTES_MAX_DEFAULT (2 * RESP_BULK_SIZE_BYTES_MAX_DEFAULT + 2 * 1024 * 1024)
/* resp_parser_shrink() keeps an input buffer up to this size and an argument array up
 * to this count; larger ones (left by one big command) are given back. */
#define RESP_PARSER_KEEP_BYTES (64 * 1024)
#define RESP_PARSER_KEEP_ARGS_COUNT 1024
/* The error text buffer, enough for the longest message above. */
#define RESP_ERROR_TEXT_BYTES_MAX 64

struct resp_limits {
    size_t multibulk_count_max;    /* arguments per command */
    size_t bulk_size_bytes_max;    /* bytes in one argument */
    size_t inline_size_bytes_max;  /* bytes in one inline request or header line */
    size_t buffered_bytes_max;     /* bytes buffered for unfinished commands */
};

/* Fills *limits with the defaults above. */
void resp_limits_default(struct resp_limits *limits);

/* One argument: a borrowed slice (see resp_parser_next for how long it lives). */
struct resp_arg {
    const uint8_t *data;
    size_t len;
};

struct resp_command {
    size_t argc;                 /* at least 1 */
    const struct resp_arg *argv; /* borrowed from the parser */
    bool is_inline;              /* it came as an inline line, not a multibulk */
};

/* Where a slice of the input buffer starts; offsets survive the buffer moving. */
struct resp_span {
    size_t offset;
    size_t len;
};

struct resp_parser {
    struct resp_limits limits;
    struct buf in;              /* owned: bytes received and not yet dropped */
    size_t consumed;            /* in[0..consumed) belongs to commands already returned */
    size_t cursor;              /* in[consumed..cursor) is parsed: headers and whole args */
    size_t line_scanned_bytes;  /* in[cursor..cursor+this) holds no line end: a line that
                                   arrives in many reads is searched once, not again
                                   from its start at every read */
    long long multibulk_left;   /* arguments still to read; 0 between commands */
    long long bulk_size;        /* length of the argument being read, -1 before its header */
    size_t argc;                /* arguments of the current command read so far */
    size_t args_cap;            /* capacity of spans and argv */
    struct resp_span *spans;    /* owned: where each argument lies in `in` */
    struct resp_arg *argv;      /* owned: the pointers handed out by resp_parser_next */
    int error;                  /* 0, or the sticky negative code of the first failure */
    char error_text[RESP_ERROR_TEXT_BYTES_MAX];
};

/* Prepares p with the given limits (copied; NULL means the defaults). Returns 0, or
 * ERR_INVALID when a limit is zero or the buffered limit cannot hold one maximal bulk
 * with its header. p owns its memory until resp_parser_free(). */
int resp_parser_init(struct resp_parser *p, const struct resp_limits *limits);
void resp_parser_free(struct resp_parser *p);

/* Copies n received bytes into the parser. Returns 0, ERR_TOO_LARGE when the bytes of
 * unfinished commands would pass limits.buffered_bytes_max (sticky, with an error
 * text), or ERR_NOMEM. Invalidates every command returned before. */
int resp_parser_feed(struct resp_parser *p, const void *data, size_t n);

/* Zero-copy receive (libuv's alloc_cb): returns space at the end of the input buffer
 * for up to *space_bytes bytes (at least 1 and at most want_bytes), which the caller
 * fills and then reports with resp_parser_commit(). Returns NULL with *space_bytes = 0
 * when the parser failed, the buffered limit is reached (sticky ERR_TOO_LARGE) or
 * memory is out. Invalidates every command returned before. */
uint8_t *resp_parser_reserve(struct resp_parser *p, size_t want_bytes, size_t *space_bytes);
/* Reports that n bytes (n <= the space last reserved) were written there. */
void resp_parser_commit(struct resp_parser *p, size_t n);

/* Parses the next complete command. Returns 1 and fills *cmd, 0 when more bytes are
 * needed, or a negative error (ERR_MALFORMED, ERR_TOO_LARGE, ERR_NOMEM; sticky).
 * Ownership: cmd->argv is valid until the next resp_parser_next(); the bytes its slices
 * point to stay valid until the next resp_parser_feed(), resp_parser_reserve() or
 * resp_parser_free(), so a server may process a whole pipelined batch before reading
 * again. Inline arguments are unquoted in place inside the input buffer. */
int resp_parser_next(struct resp_parser *p, struct resp_command *cmd);

/* Gives back memory a past big command left behind (input buffer over
 * RESP_PARSER_KEEP_BYTES with nothing unfinished in it, argument arrays over
 * RESP_PARSER_KEEP_ARGS_COUNT between commands), as Redis shrinks idle query buffers.
 * A server calls it when a connection has drained its input. Invalidates every command
 * returned before. */
void resp_parser_shrink(struct resp_parser *p);

/* The Redis error text of the failure ("ERR Protocol error: ..."), or NULL if none. */
const char *resp_parser_error(const struct resp_parser *p);

/* Bytes received and not yet returned as commands (what counts toward the limit). */
size_t resp_parser_buffered_bytes(const struct resp_parser *p);

#endif
