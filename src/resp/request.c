/* The RESP request parser; see request.h for the forms, limits and ownership rules.
 *
 * State between calls: `cursor` marks how far the input is parsed; a multibulk command
 * in progress keeps its remaining argument count and, while inside an argument, that
 * argument's length. Complete arguments are remembered as offsets (struct resp_span),
 * because the input buffer may move when it grows or is compacted; they become pointers
 * only when the whole command is handed out. Every check happens at the same point of
 * the byte stream whatever the pieces were, so feeding a stream byte by byte gives the
 * same commands and the same error as feeding it whole. */
#include "resp/request.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "resp/number.h"

/* The first argument array holds this many; it grows with arguments actually read. */
#define ARGS_CAP_INITIAL 16
/* Header numbers with at most this many digits cannot overflow a long long, so the
 * one-pass header parser (fast_header) takes them. */
#define FAST_HEADER_DIGITS_MAX 18

/* Step results inside the parser. */
enum {
    STEP_NEED_MORE = 0,
    STEP_PROGRESS = 1,
    STEP_COMMAND = 2,
};

void resp_limits_default(struct resp_limits *limits)
{
    limits->multibulk_count_max = RESP_MULTIBULK_COUNT_MAX_DEFAULT;
    limits->bulk_size_bytes_max = RESP_BULK_SIZE_BYTES_MAX_DEFAULT;
    limits->inline_size_bytes_max = RESP_INLINE_SIZE_BYTES_MAX_DEFAULT;
    limits->buffered_bytes_max = RESP_BUFFERED_BYTES_MAX_DEFAULT;
}

int resp_parser_init(struct resp_parser *p, const struct resp_limits *limits)
{
    memset(p, 0, sizeof *p);
    if (limits != NULL) {
        p->limits = *limits;
    } else {
        resp_limits_default(&p->limits);
    }
    const struct resp_limits *l = &p->limits;
    if (l->multibulk_count_max == 0 || l->bulk_size_bytes_max == 0 ||
        l->inline_size_bytes_max == 0 || l->multibulk_count_max > (size_t)LLONG_MAX / 2 ||
        l->bulk_size_bytes_max > (size_t)LLONG_MAX / 2 ||
        l->buffered_bytes_max < l->bulk_size_bytes_max + l->inline_size_bytes_max + 4) {
        return ERR_INVALID;
    }
    buf_init(&p->in, l->buffered_bytes_max);
    p->bulk_size = -1;
    return 0;
}

static void resp_parser_args_free(struct resp_parser *p);

void resp_parser_free(struct resp_parser *p)
{
    buf_free(&p->in);
    p->argc = 0;
    resp_parser_args_free(p);
}

/* Grows the argument arrays to hold at least `need`, doubling, never past `limit`. */
static int resp_parser_args_alloc(struct resp_parser *p, size_t need, size_t limit)
{
    ASSERT(need <= limit);
    if (need <= p->args_cap) {
        return 0;
    }
    size_t cap = p->args_cap != 0 ? p->args_cap : ARGS_CAP_INITIAL;
    while (cap < need) {
        cap *= 2;
    }
    cap = MIN(cap, limit);
    struct resp_span *spans = realloc(p->spans, cap * sizeof *spans);
    if (spans == NULL) {
        return ERR_NOMEM;
    }
    p->spans = spans;
    struct resp_arg *argv = realloc(p->argv, cap * sizeof *argv);
    if (argv == NULL) {
        return ERR_NOMEM;
    }
    p->argv = argv;
    p->args_cap = cap;
    return 0;
}

static int fail(struct resp_parser *p, int code, const char *text)
{
    ASSERT(code < 0);
    p->error = code;
    snprintf(p->error_text, sizeof p->error_text, "ERR Protocol error: %s", text);
    return code;
}

static int fail_nomem(struct resp_parser *p)
{
    p->error = ERR_NOMEM;
    snprintf(p->error_text, sizeof p->error_text, "ERR out of memory");
    return ERR_NOMEM;
}

/* Drops the bytes of returned commands so the buffer holds only unfinished ones. */
static void compact(struct resp_parser *p)
{
    size_t shift = p->consumed;
    if (shift == 0) {
        return;
    }
    size_t left = p->in.len - shift;
    if (left != 0) {
        memmove(p->in.data, p->in.data + shift, left);
    }
    p->in.len = left;
    p->cursor -= shift;
    p->consumed = 0;
    for (size_t i = 0; i < p->argc; i++) {
        p->spans[i].offset -= shift;
    }
}

static void resp_parser_args_free(struct resp_parser *p)
{
    ASSERT(p->argc == 0);
    free(p->spans);
    free(p->argv);
    p->spans = NULL;
    p->argv = NULL;
    p->args_cap = 0;
}

void resp_parser_shrink(struct resp_parser *p)
{
    compact(p);
    if (p->in.len == 0 && p->in.cap > RESP_PARSER_KEEP_BYTES) {
        buf_free(&p->in);
    }
    if (p->argc == 0 && p->multibulk_left == 0 && p->args_cap > RESP_PARSER_KEEP_ARGS_COUNT) {
        resp_parser_args_free(p);
    }
}

size_t resp_parser_buffered_bytes(const struct resp_parser *p) { return p->in.len - p->consumed; }

int resp_parser_feed(struct resp_parser *p, const void *data, size_t n)
{
    if (p->error != 0) {
        return p->error;
    }
    compact(p);
    if (n > p->limits.buffered_bytes_max - p->in.len) {
        return fail(p, ERR_TOO_LARGE, "query buffer limit reached");
    }
    if (buf_put(&p->in, data, n) != 0) {
        return fail_nomem(p);
    }
    return 0;
}

uint8_t *resp_parser_reserve(struct resp_parser *p, size_t want_bytes, size_t *space_bytes)
{
    *space_bytes = 0;
    if (p->error != 0) {
        return NULL;
    }
    compact(p);
    size_t allowed = p->limits.buffered_bytes_max - p->in.len;
    if (allowed == 0) {
        fail(p, ERR_TOO_LARGE, "query buffer limit reached");
        return NULL;
    }
    size_t want = MIN(MAX(want_bytes, (size_t)1), allowed);
    if (buf_reserve(&p->in, want) != 0) {
        fail_nomem(p);
        return NULL;
    }
    *space_bytes = MIN(p->in.cap - p->in.len, allowed);
    return p->in.data + p->in.len;
}

void resp_parser_commit(struct resp_parser *p, size_t n)
{
    ASSERT(p->error == 0 || n == 0);
    ASSERT(n <= p->in.cap - p->in.len);
    ASSERT(n <= p->limits.buffered_bytes_max - p->in.len);
    p->in.len += n;
}

const char *resp_parser_error(const struct resp_parser *p)
{
    return p->error != 0 ? p->error_text : NULL;
}

/* Moves the parse position; the next line search starts afresh there. */
static void advance(struct resp_parser *p, size_t cursor)
{
    p->cursor = cursor;
    p->line_scanned_bytes = 0;
}

/* Finds `end` in the line at the cursor, resuming where the last search stopped.
 * Returns its offset from the cursor, or the bytes available when it is not there. */
static size_t scan_line(struct resp_parser *p, uint8_t end, bool *found)
{
    const uint8_t *start = p->in.data + p->cursor;
    size_t avail = p->in.len - p->cursor;
    ASSERT(p->line_scanned_bytes <= avail);
    const uint8_t *hit = memchr(start + p->line_scanned_bytes, end, avail - p->line_scanned_bytes);
    *found = hit != NULL;
    size_t offset = hit != NULL ? (size_t)(hit - start) : avail;
    p->line_scanned_bytes = offset;
    return offset;
}

/* Finds the header line at the cursor: sets *line_end to the offset of its '\r' when the
 * '\r' and one byte after it (Redis assumes a '\n' there) have arrived. The line may not
 * be longer than the inline limit, whether or not its end has arrived yet. */
static int find_header_line(struct resp_parser *p, size_t *line_end, const char *too_big)
{
    size_t avail = p->in.len - p->cursor;
    bool found = false;
    size_t line_len = scan_line(p, '\r', &found);
    if (line_len > p->limits.inline_size_bytes_max) {
        return fail(p, ERR_TOO_LARGE, too_big);
    }
    if (!found || line_len + 2 > avail) {
        return STEP_NEED_MORE;
    }
    *line_end = p->cursor + line_len;
    return STEP_PROGRESS;
}

/* The common header in one pass: at the cursor the byte `type`, 1 to
 * FAST_HEADER_DIGITS_MAX digits without a leading zero (or a lone "0"), then '\r' and
 * one more byte, within the inline limit. Sets *line_end (the '\r') and *value, which
 * are what find_header_line and resp_parse_ll give for such a line. False for anything
 * else (a sign, another byte, a long or unfinished line): the general path then parses
 * or refuses it. */
static bool fast_header(const struct resp_parser *p, uint8_t type, size_t *line_end,
                        long long *value)
{
    const uint8_t *s = p->in.data + p->cursor + 1;
    size_t avail = p->in.len - p->cursor - 1; /* bytes after the type byte */
    if (p->in.data[p->cursor] != type) {
        return false;
    }
    size_t n = 0;
    long long v = 0;
    while (n < avail && n < FAST_HEADER_DIGITS_MAX && s[n] >= '0' && s[n] <= '9') {
        v = v * 10 + (s[n] - '0');
        n++;
    }
    if (n == 0 || n + 2 > avail || s[n] != '\r' || (s[0] == '0' && n > 1) ||
        n + 1 > p->limits.inline_size_bytes_max) {
        return false;
    }
    *line_end = p->cursor + 1 + n;
    *value = v;
    return true;
}

/* The header line at the cursor and its number: STEP_PROGRESS with *line_end and, when
 * *number_ok, *value (resp_parse_ll's rules); STEP_NEED_MORE; or an error. */
static int header_number(struct resp_parser *p, uint8_t type, const char *too_big,
                         size_t *line_end, long long *value, bool *number_ok)
{
    if (fast_header(p, type, line_end, value)) {
        *number_ok = true;
        return STEP_PROGRESS;
    }
    int rc = find_header_line(p, line_end, too_big);
    if (rc == STEP_PROGRESS) {
        const uint8_t *digits = p->in.data + p->cursor + 1;
        *number_ok = resp_parse_ll(digits, *line_end - p->cursor - 1, value);
    }
    return rc;
}

static int parse_multibulk_header(struct resp_parser *p)
{
    size_t line_end = 0;
    long long count = 0;
    bool number_ok = false;
    int rc = header_number(p, '*', "too big mbulk count string", &line_end, &count, &number_ok);
    if (rc != STEP_PROGRESS) {
        return rc;
    }
    if (!number_ok || count > (long long)p->limits.multibulk_count_max) {
        return fail(p, ERR_MALFORMED, "invalid multibulk length");
    }
    advance(p, line_end + 2);
    if (count <= 0) {
        /* An empty command: Redis skips it without a reply. */
        p->consumed = p->cursor;
        return STEP_PROGRESS;
    }
    p->multibulk_left = count;
    p->bulk_size = -1;
    p->argc = 0;
    return STEP_PROGRESS;
}

static int parse_bulk_header(struct resp_parser *p)
{
    size_t line_end = 0;
    long long size = 0;
    bool number_ok = false;
    int rc = header_number(p, '$', "too big bulk count string", &line_end, &size, &number_ok);
    if (rc != STEP_PROGRESS) {
        return rc;
    }
    uint8_t first = p->in.data[p->cursor];
    if (first != '$') {
        /* Like Redis's addReplyErrorFormat, which turns line breaks into spaces; a NUL
         * would end the C string, so it becomes a space too. */
        char got = (first == '\r' || first == '\n' || first == '\0') ? ' ' : (char)first;
        char text[32];
        snprintf(text, sizeof text, "expected '$', got '%c'", got);
        return fail(p, ERR_MALFORMED, text);
    }
    if (!number_ok || size < 0 || size > (long long)p->limits.bulk_size_bytes_max) {
        return fail(p, ERR_MALFORMED, "invalid bulk length");
    }
    advance(p, line_end + 2);
    p->bulk_size = size;
    return STEP_PROGRESS;
}

/* Reads the body of the current argument once it and its two trailing bytes arrived.
 * Redis does not check that those two bytes are "\r\n"; neither does this parser. */
static int parse_bulk_body(struct resp_parser *p)
{
    size_t size = (size_t)p->bulk_size;
    if (p->in.len - p->cursor < size + 2) {
        return STEP_NEED_MORE;
    }
    if (p->argc == p->args_cap) {
        size_t limit = (size_t)p->argc + (size_t)p->multibulk_left;
        if (resp_parser_args_alloc(p, p->argc + 1, limit) != 0) {
            return fail_nomem(p);
        }
    }
    p->spans[p->argc].offset = p->cursor;
    p->spans[p->argc].len = size;
    p->argc++;
    advance(p, p->cursor + size + 2);
    p->bulk_size = -1;
    p->multibulk_left--;
    if (p->multibulk_left == 0) {
        p->consumed = p->cursor;
        return STEP_COMMAND;
    }
    return STEP_PROGRESS;
}

static bool is_space(uint8_t c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static uint8_t unescape(uint8_t c)
{
    switch (c) {
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'b': return '\b';
    case 'a': return '\a';
    default: return c;
    }
}

/* One step inside "double quotes" at s[*r]: returns 1 at the closing quote, 0 to go on,
 * -1 when the closing quote is glued to the next word. */
static int split_double_quoted(uint8_t *s, size_t *r, size_t *w, size_t to)
{
    size_t i = *r;
    if (s[i] == '\\' && i + 3 < to && s[i + 1] == 'x' && hex_value(s[i + 2]) >= 0 &&
        hex_value(s[i + 3]) >= 0) {
        s[(*w)++] = (uint8_t)(hex_value(s[i + 2]) * 16 + hex_value(s[i + 3]));
        *r = i + 3;
    } else if (s[i] == '\\' && i + 1 < to) {
        s[(*w)++] = unescape(s[i + 1]);
        *r = i + 1;
    } else if (s[i] == '"') {
        return (i + 1 < to && !is_space(s[i + 1])) ? -1 : 1;
    } else {
        s[(*w)++] = s[i];
    }
    return 0;
}

/* The same inside 'single quotes', where only \' is an escape. */
static int split_single_quoted(uint8_t *s, size_t *r, size_t *w, size_t to)
{
    size_t i = *r;
    if (s[i] == '\\' && i + 1 < to && s[i + 1] == '\'') {
        s[(*w)++] = '\'';
        *r = i + 1;
    } else if (s[i] == '\'') {
        return (i + 1 < to && !is_space(s[i + 1])) ? -1 : 1;
    } else {
        s[(*w)++] = s[i];
    }
    return 0;
}

/* Reads one word starting at s[*r] (not a space) and writes it at s[*w], which never
 * passes *r: every input byte yields at most one output byte. This is sdssplitargs's
 * loop; a quote may open in the middle of a word. Returns 0, or -1 for bad quotes. */
static int split_word(uint8_t *s, size_t *r, size_t *w, size_t to)
{
    int quote = 0; /* 0, '"' or '\'' */
    for (;;) {
        int rc = 0;
        if (*r == to) {
            if (quote != 0) {
                return -1; /* unterminated quotes */
            }
            return 0;
        }
        if (quote == '"') {
            rc = split_double_quoted(s, r, w, to);
        } else if (quote == '\'') {
            rc = split_single_quoted(s, r, w, to);
        } else if (s[*r] == ' ' || s[*r] == '\n' || s[*r] == '\r' || s[*r] == '\t') {
            rc = 1;
        } else if (s[*r] == '"' || s[*r] == '\'') {
            quote = s[*r];
        } else {
            s[(*w)++] = s[*r];
        }
        if (rc < 0) {
            return -1;
        }
        (*r)++;
        if (rc == 1) {
            return 0;
        }
    }
}

/* Splits in[from..to) into words in place and records them as the command's args. */
static int split_inline(struct resp_parser *p, size_t from, size_t to)
{
    uint8_t *s = p->in.data;
    size_t r = from;
    size_t w = from;
    p->argc = 0;
    for (;;) {
        while (r < to && is_space(s[r])) {
            r++;
        }
        if (r == to) {
            return 0;
        }
        size_t word_start = w;
        if (split_word(s, &r, &w, to) != 0) {
            return fail(p, ERR_MALFORMED, "unbalanced quotes in request");
        }
        if (p->argc == p->args_cap &&
            resp_parser_args_alloc(p, p->argc + 1, p->limits.inline_size_bytes_max + 1) != 0) {
            return fail_nomem(p);
        }
        p->spans[p->argc].offset = word_start;
        p->spans[p->argc].len = w - word_start;
        p->argc++;
    }
}

static int parse_inline(struct resp_parser *p)
{
    const uint8_t *start = p->in.data + p->cursor;
    bool found = false;
    size_t line_len = scan_line(p, '\n', &found);
    /* The limit is on the text before "\r\n" or "\n"; a last '\r' may be the start of
     * the line's end, so it does not count yet. */
    size_t text_len = line_len;
    if (text_len > 0 && start[text_len - 1] == '\r') {
        text_len--;
    }
    if (text_len > p->limits.inline_size_bytes_max) {
        return fail(p, ERR_TOO_LARGE, "too big inline request");
    }
    if (!found) {
        return STEP_NEED_MORE;
    }
    size_t to = p->cursor + line_len;
    if (line_len > 0 && p->in.data[to - 1] == '\r') {
        to--;
    }
    /* sdssplitargs reads a C string: a NUL ends the line early. */
    const uint8_t *nul = memchr(start, '\0', to - p->cursor);
    if (nul != NULL) {
        to = (size_t)(nul - p->in.data);
    }
    int rc = split_inline(p, p->cursor, to);
    if (rc < 0) {
        return rc;
    }
    advance(p, p->cursor + line_len + 1);
    p->consumed = p->cursor;
    return p->argc > 0 ? STEP_COMMAND : STEP_PROGRESS;
}

static void hand_out(struct resp_parser *p, struct resp_command *cmd, bool is_inline)
{
    for (size_t i = 0; i < p->argc; i++) {
        p->argv[i].data = p->in.data + p->spans[i].offset;
        p->argv[i].len = p->spans[i].len;
    }
    cmd->argc = p->argc;
    cmd->argv = p->argv;
    cmd->is_inline = is_inline;
    p->argc = 0;
}

int resp_parser_next(struct resp_parser *p, struct resp_command *cmd)
{
    for (;;) {
        if (p->error != 0) {
            return p->error;
        }
        if (p->cursor == p->in.len) {
            return 0;
        }
        int rc;
        bool is_inline = false;
        if (p->multibulk_left > 0) {
            rc = p->bulk_size < 0 ? parse_bulk_header(p) : parse_bulk_body(p);
        } else if (p->in.data[p->cursor] == '*') {
            rc = parse_multibulk_header(p);
        } else {
            is_inline = true;
            rc = parse_inline(p);
        }
        if (rc < 0 || rc == STEP_NEED_MORE) {
            return rc;
        }
        if (rc == STEP_COMMAND) {
            hand_out(p, cmd, is_inline);
            return 1;
        }
    }
}
