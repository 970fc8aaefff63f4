/*
 * text.c: names and messages as a terminal shows them: escaped so that any bytes read as
 * text, and measured in the cells they take, not in bytes.
 *
 * A name is bytes: the kernel takes any but '/' and NUL. The command shows it as UTF-8, the
 * form of names people type (and of the JSON output). A byte that is a control character
 * (C0, DEL, or one of the C1 characters U+0080..U+009F, which some terminals obey as escape
 * sequences) or that is not part of a valid UTF-8 sequence is written \xNN instead: the name
 * stays on its line, moves no cursor, and says which bytes it holds. JSON writes such bytes
 * as its own escapes instead (json.c).
 *
 * A table pads each cell to its width on the terminal: "é" is two bytes in one cell, "日"
 * three bytes in two. The width of a character is wcwidth()'s under LC_CTYPE, which
 * cli_text_locale() takes from the environment; as what is printed is UTF-8 whatever the
 * locale, one that is not UTF-8 (the "C" of an environment without LANG) is replaced by
 * C.UTF-8 for this. Only LC_CTYPE is set: numbers print as in the "C" locale still.
 */
#include <langinfo.h>
#include <locale.h>
#include <string.h>
#include <wchar.h>

#include "cli.h"

size_t cli_utf8_next(const unsigned char *s, uint32_t *out)
{
    unsigned c = s[0];
    size_t n;
    uint32_t cp, min;
    if (c < 0x80) {
        *out = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0)
        n = 3, cp = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    /* A NUL ends the loop too: it is not a continuation byte, so nothing is read past it. */
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    *out = cp;
    return n;
}

/* cli_escape_text(), and with @p names, a backslash doubled. */
static void escape(char *buf, size_t size, const char *str, int names)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t used = 0;
    if (size == 0)
        return;
    while (*s) {
        uint32_t cp = 0;
        size_t n = cli_utf8_next(s, &cp);
        int escape = n == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
        /* An escaped character goes a byte at a time: a C1 character's second byte alone
         * is no valid sequence, so it is escaped in turn. */
        if (escape)
            n = 1;
        int twice = names && *s == '\\';
        if (used + (escape ? 4 : twice ? 2 : n) >= size)
            break;
        if (escape) {
            snprintf(buf + used, size - used, "\\x%02x", *s);
            used += 4;
        } else if (twice) {
            /* Doubled: else a name holding the text "\x01" would print as one holding 0x01. */
            memcpy(buf + used, "\\\\", 2);
            used += 2;
        } else {
            memcpy(buf + used, s, n);
            used += n;
        }
        s += n;
    }
    buf[used] = '\0';
}

void cli_escape_text(char *buf, size_t size, const char *str)
{
    escape(buf, size, str, 0);
}

void cli_escape_name(char *buf, size_t size, const char *str)
{
    escape(buf, size, str, 1);
}

void cli_text_locale(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    if (!setlocale(LC_CTYPE, "") || strcmp(nl_langinfo(CODESET), "UTF-8") != 0)
        setlocale(LC_CTYPE, "C.UTF-8");
}

size_t cli_text_width(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t width = 0;
    while (*s) {
        uint32_t cp = 0;
        size_t n = cli_utf8_next(s, &cp);
        if (n <= 1) {
            /* ASCII, or a byte of no valid sequence: one cell, as a terminal shows it. */
            width++;
            s++;
            continue;
        }
        /* Not printable in this locale: one cell, as a terminal shows a replacement. */
        int w = wcwidth((wchar_t)cp);
        width += w < 0 ? 1 : (size_t)w;
        s += n;
    }
    return width;
}
