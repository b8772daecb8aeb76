/* Text for the project's error table; see errors.h. */
#include "base/errors.h"

#include <errno.h>

#define CHORUS_ERROR_TEXT(name, text) [name - ERR_FIRST_] = text,
static const char *const error_texts[] = {CHORUS_ERRORS(CHORUS_ERROR_TEXT)};
#undef CHORUS_ERROR_TEXT
#define CHORUS_ERROR_NAME(name, text) [name - ERR_FIRST_] = #name,
static const char *const error_names[] = {CHORUS_ERRORS(CHORUS_ERROR_NAME)};
#undef CHORUS_ERROR_NAME

static const char *lookup(const char *const *table, int code, const char *ok)
{
    if (code == 0) {
        return ok;
    }
    if (code <= ERR_FIRST_ || code >= ERR_LAST_) {
        return "unknown error";
    }
    return table[code - ERR_FIRST_];
}

const char *err_str(int code) { return lookup(error_texts, code, "success"); }

const char *err_name(int code) { return lookup(error_names, code, "OK"); }

int err_from_errno(int errnum)
{
    switch (errnum) {
    case ENOMEM: return ERR_NOMEM;
    case EINVAL: return ERR_INVALID;
    case ENOSPC:
    case EDQUOT: return ERR_NOSPACE;
    case ENOENT: return ERR_NOT_FOUND;
    case EEXIST: return ERR_EXISTS;
    case ETIMEDOUT: return ERR_TIMEOUT;
    case EAGAIN: return ERR_BUSY;
    default: return ERR_IO;
    }
}
