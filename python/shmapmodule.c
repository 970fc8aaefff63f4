/*
 * shmapmodule.c: the Python binding of libshmap, `import shmap`.
 *
 * It is a client of the library like the CLI: it sees include/shmap.h only.
 *
 * Design note: lifetimes. A Segment object owns one library handle (a reference to the
 * process's mapping of the segment). Nothing that exposes the memory borrows that handle:
 * every ndarray made by Segment.array gets a fresh shmap_dup() reference, held by a small
 * _MapRef object that numpy keeps as the array's base, and every buffer exported through
 * the buffer protocol gets one too, kept in the Py_buffer's `internal` block and closed by
 * bf_releasebuffer. So Segment.close() only drops the Segment's own reference: arrays taken
 * before stay valid, and the library unmaps the memory (and applies the destroy policy) when
 * the last array or buffer goes. This is IDL's reference counting, and what makes closing
 * under a live array safe where multiprocessing.shared_memory crashes.
 *
 * Read-only segments are mapped PROT_READ by the library, so their arrays must never become
 * writable: arrays are made without the WRITEABLE flag, and their base (_MapRef) exports no
 * buffer, so numpy refuses `arr.flags.writeable = True` instead of letting a write fault.
 *
 * Every handle this module holds is on one of two lists (open Segments, other references:
 * arrays, buffers, Locks and the waits in progress), guarded by the GIL. At interpreter exit
 * (an atexit hook) open Segments are closed, and segments this process created without
 * keep= that other references still map are destroyed, so the destroy policy holds at exit
 * as it does in IDL.
 *
 * The GIL is released around library calls that may block or take long: create (memory is
 * reserved), open (waits briefly for a creator still writing the header), close (munmap of
 * a large mapping, destroy), list, gc, info's search of /proc, and the waits of lock, wait,
 * read_frame, delete and an open with hold=True (see "Blocking calls" below). Calls on a
 * handle that are quick (publish, keywords) keep it.
 * The handle of a Segment is used only with the GIL held or, for close, after the Segment
 * has let go of it, so close() cannot race another use of the handle: whatever runs without
 * the GIL on a Segment's behalf (the waits, Segment.info's /proc search) works on a
 * reference of its own (borrow()), and a Lock holds its lock through one.
 *
 * The library's error codes become exceptions in raise_lib(): FileNotFoundError and the
 * other OSError subclasses for the matching errno values, shmap.DtypeError (TypeError) and
 * shmap.ArgumentError (ValueError) for type and argument errors, shmap.OutOfMemoryError
 * (MemoryError) for the library's -ENOMEM, shmap.ReadOnlyError (PermissionError) for
 * EREADONLY, shmap.Error otherwise. The message is the library's thread-local detail, read
 * in the thread that made the call. The blocking calls choose their own classes:
 * TimeoutError when their timeout passes, BlockingIOError when timeout=0 would have had to
 * wait (as os.read on a non-blocking descriptor, and fcntl.flock with LOCK_NB, raise it).
 * This module's own allocation failures are a plain MemoryError.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <grp.h>
#include <math.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "shmap.h"
#include "shmap_doc.h"

/* numpy 2 reads descriptor fields through functions; numpy 1 has only the struct. */
#if NPY_ABI_VERSION < 0x02000000
#define PyDataType_NAMES(d) ((d)->names)
#define PyDataType_FIELDS(d) ((d)->fields)
#define PyDataType_SUBARRAY(d) ((d)->subarray)
#define PyDataType_ELSIZE(d) ((npy_intp)(d)->elsize)
#endif

#define SHMAP_STR_(x) #x
#define SHMAP_STR(x) SHMAP_STR_(x) /* a macro's value as a string literal, for messages */

static PyObject *Error;            /* shmap.Error(OSError) */
static PyObject *DtypeError;       /* shmap.DtypeError(Error, TypeError) */
static PyObject *ArgumentError;    /* shmap.ArgumentError(Error, ValueError) */
static PyObject *OutOfMemoryError; /* shmap.OutOfMemoryError(Error, MemoryError) */
static PyObject *ReadOnlyError;    /* shmap.ReadOnlyError(Error, PermissionError) */
static PyObject *OwnerDiedWarning; /* shmap.OwnerDiedWarning(RuntimeWarning) */

/* ---------------------------------------------------------------------------------------- */
/* Errors */

/* Does the detail message name the segment? Compare with the name as the library prints
 * it: without a store prefix or a leading '/'; a name too long to be one is quoted cut to
 * its first 40 bytes, with "..." ("'NAME...': name is N bytes") or without (a memfd label
 * too long: "'memfd:NAME': a memfd label is at most 200 bytes"). */
static int mentions(const char *detail, const char *name)
{
    if (!name || !*name)
        return 1;
    if (detail[0] == '\'' && strlen(name) > 40 && strncmp(detail + 1, name, 40) == 0 &&
        (strncmp(detail + 41, "...'", 4) == 0 || detail[41] == '\''))
        return 1;
    if (strncmp(name, "shm://", 6) == 0)
        name += 6;
    else if (strncmp(name, "shmem://", 8) == 0)
        name += 8;
    if (*name == '/')
        name++;
    return !*name || strstr(detail, name) != NULL;
}

static PyObject *exception_class(int rc)
{
    switch (rc) {
    case -ENOENT:
        return PyExc_FileNotFoundError;
    case -EEXIST:
        return PyExc_FileExistsError;
    case -EACCES:
    case -EPERM:
        return PyExc_PermissionError;
    case -ETIMEDOUT:
        return PyExc_TimeoutError;
    case -ENOMEM:
        return OutOfMemoryError;
    case SHMAP_EREADONLY:
        return ReadOnlyError;
    case SHMAP_EDTYPE:
        return DtypeError;
    case SHMAP_EBADNAME:
    case SHMAP_ESHAPE:
    case SHMAP_ESIZE:
    case SHMAP_EKEYWORD:
    case SHMAP_EINVAL:
        return ArgumentError;
    default:
        return Error;
    }
}

/* Is rc -errno (as opposed to one of the library's own codes)? */
static int is_errno(int rc)
{
    return rc < 0 && rc > -4096;
}

/*
 * Design note: messages. The library's details are written for C callers, and a few name
 * C functions ("pass the descriptor (shmap_fd, shmap_open_fd)", "shmap_open_fd: descriptor
 * 9: ...") or the name as the library spells it ('memfd:' is 'memfd:shmap' there). A Python
 * user is told the Python calls instead, and sees the name as given: python_words() rewrites
 * a detail before it is raised.
 */
static const struct {
    const char *c, *py;
} c_words[] = {
    {"shmap_fd()", "seg.fileno()"}, /* before "shmap_fd", which it starts with */
    {"shmap_fd", "seg.fileno()"},
    {"shmap_open_fd", "shmap.open_fd()"},
    {"shmap_open_raw", "shmap.open()"},
    {"shmap_open", "shmap.open()"},
    {"shmap_create", "shmap.create()"},
    {"shmap_delete", "shmap.delete()"},
    {"shmap_list", "shmap.list()"},
    {"shmap_mappings", "shmap.mappings()"},
    {"shmap_gc", "shmap.gc()"},
    {"shmap_lock_holders", "lock_holders()"},
    {"fchmod(2)", "os.fchmod()"},
    {"fchown(2)", "os.fchown()"},
};

static int ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_';
}

/* The C word of c_words[] that starts at @p p (preceded by a non-identifier character), as
 * a whole word; -1 if none. */
static int c_word_at(const char *text, const char *p)
{
    if (p > text && ident_char(p[-1]))
        return -1;
    for (size_t i = 0; i < sizeof c_words / sizeof c_words[0]; i++) {
        size_t len = strlen(c_words[i].c);
        if (strncmp(p, c_words[i].c, len) == 0 &&
            !(ident_char(c_words[i].c[len - 1]) && ident_char(p[len])))
            return (int)i;
    }
    return -1;
}

/*
 * @p text in a Python user's words (see "messages" above), into a new PyMem buffer (NULL:
 * out of memory). The first "WORD: " of a detail is the segment's name unless it is a C
 * function's: it is left alone (a name is the user's, whatever it holds), but for a memfd
 * name given as @p name, which it becomes (quoted when it ends with ':', as 'memfd:' does,
 * so that the colon after it still reads as one).
 */
static char *python_words(const char *text, const char *name)
{
    size_t len = strlen(text), nlen = name ? strlen(name) : 0;
    char *out = PyMem_Malloc(2 * len + nlen + 8); /* each rewrite at most doubles a word */
    if (!out)
        return NULL;
    char *o = out;
    const char *p = text;
    const char *colon = strstr(text, ": ");
    if (colon && c_word_at(text, text) < 0) {
        if (name && strncmp(name, "memfd:", 6) == 0 && strncmp(text, "memfd:", 6) == 0) {
            int quote = nlen && name[nlen - 1] == ':';
            o += sprintf(o, quote ? "'%s'" : "%s", name);
        } else {
            memcpy(o, text, (size_t)(colon - text));
            o += colon - text;
        }
        p = colon;
    }
    while (*p) {
        int w = c_word_at(text, p);
        if (w < 0) {
            *o++ = *p++;
            continue;
        }
        o += sprintf(o, "%s", c_words[w].py);
        p += strlen(c_words[w].c);
    }
    *o = '\0';
    return out;
}

/* What repr() escapes, as str.isprintable() says: a control character, a byte os.fsdecode()
 * could not decode (a lone surrogate), a line or paragraph separator (U+2028, U+2029), a
 * format character, unassigned code points; a space other than ' '. */
static int unprintable(Py_UCS4 c)
{
    return !Py_UNICODE_ISPRINTABLE(c);
}

/*
 * A message fit to print on one line: unprintable() characters spelled as repr() spells
 * them (\n, \x1b, \udcff), so that a name reads as repr(name) shows it. Steals @p msg; a
 * new reference, or NULL with an exception.
 */
static PyObject *printable_msg(PyObject *msg)
{
    if (!msg)
        return NULL;
    Py_ssize_t len = PyUnicode_GET_LENGTH(msg), bad = 0;
    for (Py_ssize_t i = 0; i < len; i++)
        bad += unprintable(PyUnicode_READ_CHAR(msg, i));
    if (bad == 0)
        return msg;
    PyObject *parts = PyList_New(0);
    for (Py_ssize_t i = 0, from = 0; parts && i <= len; i++) {
        Py_UCS4 c = i < len ? PyUnicode_READ_CHAR(msg, i) : 0;
        int esc = i < len && unprintable(c);
        if (!esc && i < len)
            continue;
        PyObject *run = PyUnicode_Substring(msg, from, i);
        PyObject *e = !esc          ? NULL
                      : c == '\n'   ? PyUnicode_FromString("\\n")
                      : c == '\r'   ? PyUnicode_FromString("\\r")
                      : c == '\t'   ? PyUnicode_FromString("\\t")
                      : c < 0x100   ? PyUnicode_FromFormat("\\x%02x", (unsigned)c)
                      : c < 0x10000 ? PyUnicode_FromFormat("\\u%04x", (unsigned)c)
                                    : PyUnicode_FromFormat("\\U%08x", (unsigned)c);
        if (!run || (esc && !e) || PyList_Append(parts, run) < 0 ||
            (e && PyList_Append(parts, e) < 0))
            Py_CLEAR(parts);
        Py_XDECREF(run);
        Py_XDECREF(e);
        from = i + 1;
    }
    Py_DECREF(msg);
    if (!parts)
        return NULL;
    PyObject *empty = PyUnicode_FromStringAndSize("", 0);
    PyObject *out = empty ? PyUnicode_Join(empty, parts) : NULL;
    Py_XDECREF(empty);
    Py_DECREF(parts);
    return out;
}

/*
 * Raise @p cls (NULL: by code) for code @p rc with the message @p msg (a reference this
 * takes), and the attributes every shmap exception has: code (@p rc), errname and errno
 * (-rc for a system code, else @p rc). Every shmap.Error raised goes through here, so a
 * handler written as the docs say never meets one without them. The message is made
 * printable first (printable_msg()). Returns NULL.
 */
static PyObject *raise_msg(PyObject *cls, int rc, PyObject *msg)
{
    if (!(msg = printable_msg(msg)))
        return NULL;
    if (!cls)
        cls = exception_class(rc);
    /* An OSError takes (errno, message) and keeps errno itself; any other class takes the
     * message alone (given both, str() would show the pair) and gets errno as the rest do. */
    int os_error = PyObject_IsSubclass(cls, PyExc_OSError);
    if (os_error < 0) {
        Py_DECREF(msg);
        return NULL;
    }
    PyObject *exc = is_errno(rc) && os_error ? PyObject_CallFunction(cls, "iO", -rc, msg)
                                             : PyObject_CallFunctionObjArgs(cls, msg, NULL);
    Py_DECREF(msg);
    if (!exc)
        return NULL;
    PyObject *code = PyLong_FromLong(rc);
    PyObject *errname = PyUnicode_FromString(shmap_errname(rc));
    PyObject *err_no = is_errno(rc) && !os_error ? PyLong_FromLong(-rc) : Py_XNewRef(code);
    int bad = !code || !errname || !err_no || PyObject_SetAttrString(exc, "code", code) < 0 ||
              PyObject_SetAttrString(exc, "errname", errname) < 0 ||
              ((!is_errno(rc) || !os_error) && PyObject_SetAttrString(exc, "errno", err_no) < 0);
    Py_XDECREF(code);
    Py_XDECREF(err_no);
    Py_XDECREF(errname);
    if (bad) {
        Py_DECREF(exc);
        return NULL;
    }
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return NULL;
}

/*
 * Raise @p cls (NULL: by code) for code @p rc with a message formatted as
 * PyUnicode_FromFormat() does (%R, %U, %s, %zd...), through raise_msg(): for what the
 * binding itself refuses or finds wrong (a numpy dtype shmap cannot store, a record field
 * list that does not read back), with the library's code for it. Returns NULL.
 */
static PyObject *raise_fmt(PyObject *cls, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PyObject *msg = PyUnicode_FromFormatV(fmt, ap);
    va_end(ap);
    return msg ? raise_msg(cls, rc, msg) : NULL;
}

/*
 * Raise @p cls (NULL: by code) for library code @p rc with the message @p text, made to
 * name @p name when it does not already, and the attributes code, errname and errno.
 * The text is put in a Python user's words (python_words()), decoded as names are (see
 * name_arg()), and made printable by raise_msg(), so it spells a name as repr() spells
 * list()'s and Segment.name. Returns NULL, for `return raise_text(...)`.
 */
static PyObject *raise_text(PyObject *cls, int rc, const char *name, const char *c_text)
{
    PyObject *msg;
    char *text = python_words(c_text, name);
    if (!text)
        return PyErr_NoMemory();
    if (mentions(text, name)) {
        msg = PyUnicode_DecodeFSDefault(text);
    } else {
        size_t len = strlen(name) + strlen(text) + 3;
        char *both = PyMem_Malloc(len);
        if (!both) {
            PyMem_Free(text);
            return PyErr_NoMemory();
        }
        snprintf(both, len, "%s: %s", name, text);
        msg = PyUnicode_DecodeFSDefault(both);
        PyMem_Free(both);
    }
    PyMem_Free(text);
    return msg ? raise_msg(cls, rc, msg) : NULL;
}

/*
 * Raise the exception for a failed library call, with the library's detail message (made
 * to name @p name when it does not already). @p cls overrides the class (NULL: by code).
 * Returns NULL, for `return raise_lib(...)`.
 */
static PyObject *raise_as(PyObject *cls, int rc, const char *name)
{
    /* The library's -ENOMEM (a System V segment larger than memory, a mapping the kernel
     * refuses, or its own allocation) comes with a detail like any other code; this module's
     * own allocation failures raise PyErr_NoMemory() themselves and never come here. */
    const char *detail = shmap_last_error();
    if (!detail || !*detail)
        detail = shmap_strerror(rc);
    if (rc == SHMAP_EPENDING) {
        /* SPEC's unmap-pending rule, which a Python user meets when an array outlives its
         * Segment's close(). Say what happened and what to do, in Python's terms. */
        char *msg = PyMem_Malloc(strlen(detail) + 512);
        if (!msg)
            return PyErr_NoMemory();
        sprintf(msg, "%s (close() was called in this process on a Segment of this segment "
                "while arrays or buffers taken from it were alive, or unmap() while any "
                "reference was: opens with this access fail until every reference to the "
                "mapping is gone. Delete those arrays, or close with a with block, whose "
                "exit leaves nothing pending; seg.dup() of a live Segment works meanwhile)",
                detail);
        raise_text(cls, rc, name, msg);
        PyMem_Free(msg);
        return NULL;
    }
    return raise_text(cls, rc, name, detail);
}

static PyObject *raise_lib(int rc, const char *name)
{
    return raise_as(NULL, rc, name);
}

/* A Python str argument as UTF-8 with no NUL inside; NULL with TypeError/ValueError. */
static const char *utf8_arg(PyObject *obj, const char *what)
{
    if (!PyUnicode_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be a str, not %.100s", what,
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(obj, &len);
    if (s && strlen(s) != (size_t)len) {
        PyErr_Format(PyExc_ValueError, "%s contains a NUL character", what);
        return NULL;
    }
    return s;
}

/*
 * Design note: names. To the system a name (a POSIX object, a file's path) is bytes, which
 * need not be UTF-8: `shmap create $'bad\xffname'` makes one. The binding treats names as
 * the os module treats paths: a str goes out through the file-system encoding with
 * surrogateescape (os.fsencode()), and names come back the same way (os.fsdecode()), so an
 * undecodable byte becomes a lone surrogate that turns back into the same byte; bytes names
 * are taken as they are. A name read from list() therefore opens and deletes the object it
 * names. The C name of a Segment is kept as bytes beside its str name, for the library and
 * for messages.
 */

/* A name argument into @p buf (SHMAP_NAME_MAX bytes): 0, or -1 with TypeError,
 * UnicodeEncodeError (a str that the file-system encoding cannot encode, as os.open()
 * raises) or shmap.ArgumentError with code EBADNAME (a NUL inside, too long), as the
 * library refuses other bad names. */
static int name_arg(PyObject *obj, const char *what, char *buf)
{
    PyObject *bytes;
    if (PyBytes_Check(obj)) {
        bytes = Py_NewRef(obj);
    } else if (PyUnicode_Check(obj)) {
        if (!(bytes = PyUnicode_EncodeFSDefault(obj)))
            return -1;
    } else {
        PyErr_Format(PyExc_TypeError, "%s must be a str or bytes, not %.100s", what,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    const char *s = PyBytes_AS_STRING(bytes);
    Py_ssize_t len = PyBytes_GET_SIZE(bytes);
    int rc = 0;
    if (memchr(s, '\0', (size_t)len)) {
        char msg[64];
        snprintf(msg, sizeof msg, "%s contains a NUL character", what);
        raise_text(ArgumentError, SHMAP_EBADNAME, NULL, msg);
        rc = -1;
    } else if (len >= SHMAP_NAME_MAX) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s is %zd bytes long: names and paths are at most %d",
                 what, len, SHMAP_NAME_MAX - 1);
        raise_text(ArgumentError, SHMAP_EBADNAME, NULL, msg);
        rc = -1;
    } else {
        memcpy(buf, s, (size_t)len + 1);
    }
    Py_DECREF(bytes);
    return rc;
}

/* A name or path from the library as a str, as os.fsdecode() makes it; None for NULL. */
static PyObject *name_to_py(const char *s)
{
    if (!s)
        Py_RETURN_NONE;
    return PyUnicode_DecodeFSDefault(s);
}

/* ---------------------------------------------------------------------------------------- */
/* References held for arrays and buffers, and the open Segments: the lists the exit hook
 * walks. Both are touched only with the GIL held. */

/* A link of an intrusive doubly-linked list; the object holding it is found with
 * offsetof. */
typedef struct list_link {
    struct list_link *prev, *next;
} list_link;

#define LIST_ENTRY(l, type, member) ((type *)(void *)((char *)(l) - offsetof(type, member)))

static void list_add(list_link **head, list_link *l)
{
    l->prev = NULL;
    l->next = *head;
    if (*head)
        (*head)->prev = l;
    *head = l;
}

static void list_remove(list_link **head, list_link *l)
{
    if (l->prev)
        l->prev->next = l->next;
    else if (*head == l)
        *head = l->next;
    if (l->next)
        l->next->prev = l->prev;
    l->prev = l->next = NULL;
}

typedef struct ref_node {
    shmap_seg *seg;
    uint64_t view_of; /* an array's or a buffer's: the serial of its Segment; else 0 */
    list_link link;
} ref_node;

static list_link *refs_head;

static void refs_add(ref_node *r)
{
    list_add(&refs_head, &r->link);
}

static void refs_remove(ref_node *r)
{
    list_remove(&refs_head, &r->link);
}

/* Close a library handle with the GIL released (munmap of a big mapping takes a while). */
static int close_handle(shmap_seg *seg, int unmap)
{
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = unmap ? shmap_unmap(seg) : shmap_close(seg);
    Py_END_ALLOW_THREADS
    return rc;
}

/* Drop a reference taken by borrow() (below), if it is still held. */
static void unborrow(ref_node *node)
{
    shmap_seg *seg = node->seg;
    if (!seg)
        return;
    node->seg = NULL; /* before the GIL goes, as segment_release() does */
    refs_remove(node);
    close_handle(seg, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* _MapRef: the base object of the arrays; one library reference each. */

typedef struct {
    PyObject_HEAD
    ref_node node;
} MapRefObject;

static PyTypeObject MapRef_Type;

static void mapref_dealloc(PyObject *obj)
{
    unborrow(&((MapRefObject *)obj)->node);
    Py_TYPE(obj)->tp_free(obj);
}

static PyObject *mapref_repr(PyObject *obj)
{
    MapRefObject *self = (MapRefObject *)obj;
    char handle[SHMAP_NAME_MAX];
    if (!self->node.seg || shmap_os_handle(self->node.seg, handle, sizeof handle) < 0)
        return PyUnicode_FromString("<shmap._MapRef>");
    return PyUnicode_FromFormat("<shmap._MapRef of '%s'>", handle);
}

static PyTypeObject MapRef_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "shmap._MapRef",
    .tp_basicsize = sizeof(MapRefObject),
    .tp_dealloc = mapref_dealloc,
    .tp_repr = mapref_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = mapref_doc,
};

/* ---------------------------------------------------------------------------------------- */
/* Element types: shmap <-> numpy */

static int typenum_of(shmap_dtype dt)
{
    switch (dt) {
    case SHMAP_U8: return NPY_UINT8;
    case SHMAP_I8: return NPY_INT8;
    case SHMAP_U16: return NPY_UINT16;
    case SHMAP_I16: return NPY_INT16;
    case SHMAP_U32: return NPY_UINT32;
    case SHMAP_I32: return NPY_INT32;
    case SHMAP_U64: return NPY_UINT64;
    case SHMAP_I64: return NPY_INT64;
    case SHMAP_F16: return NPY_FLOAT16;
    case SHMAP_F32: return NPY_FLOAT32;
    case SHMAP_F64: return NPY_FLOAT64;
    case SHMAP_C64: return NPY_COMPLEX64;
    case SHMAP_C128: return NPY_COMPLEX128;
    case SHMAP_BOOL: return NPY_BOOL;
    default: return -1;
    }
}

static PyArray_Descr *descr_of_type(shmap_dtype dt)
{
    int num = typenum_of(dt);
    if (num < 0) {
        raise_fmt(DtypeError, SHMAP_EDTYPE, "element type code %d has no numpy equivalent",
                  (int)dt);
        return NULL;
    }
    return PyArray_DescrFromType(num);
}

/*
 * The numpy dtype of a record field list `name:type[count],...` (already checked by the
 * library when the segment was opened; checked again here, as it came from shared memory).
 */
static PyArray_Descr *descr_of_fields(const char *fields, size_t elsize)
{
    PyObject *list = PyList_New(0);
    if (!list)
        return NULL;
    const char *p = fields, *end = fields, *why = NULL;
    int nth = 0;
    for (; *p; nth++) {
        end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *colon = memchr(p, ':', (size_t)(end - p));
        if (!colon) {
            why = "no ':type'";
            goto bad;
        }
        const char *bracket = memchr(colon, '[', (size_t)(end - colon));
        const char *tend = bracket ? bracket : end;
        /* As long as a whole field list: a segment made before the library wrote types by
         * its names holds any spelling it then accepted. */
        char type[SHMAP_RECORD_FIELDS_MAX];
        if ((size_t)(tend - colon - 1) >= sizeof type) {
            why = "a type longer than a field list";
            goto bad;
        }
        memcpy(type, colon + 1, (size_t)(tend - colon - 1));
        type[tend - colon - 1] = '\0';
        shmap_dtype dt;
        if (shmap_dtype_parse(type, &dt) < 0) {
            why = "a type this shmap does not know";
            goto bad;
        }
        PyObject *name = PyUnicode_FromStringAndSize(p, colon - p);
        PyArray_Descr *fd = name ? descr_of_type(dt) : NULL;
        PyObject *item = NULL;
        if (fd && bracket) {
            unsigned long long count = strtoull(bracket + 1, NULL, 10);
            PyObject *shape = Py_BuildValue("(K)", count);
            if (shape)
                item = PyTuple_Pack(3, name, (PyObject *)fd, shape);
            Py_XDECREF(shape);
        } else if (fd) {
            item = PyTuple_Pack(2, name, (PyObject *)fd);
        }
        Py_XDECREF(name);
        Py_XDECREF(fd);
        if (!item || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(item);
        p = *end ? end + 1 : end;
    }
    PyArray_Descr *descr = NULL;
    int ok = PyArray_DescrConverter(list, &descr);
    Py_DECREF(list);
    if (!ok)
        return NULL;
    if ((size_t)PyDataType_ELSIZE(descr) != elsize) {
        Py_ssize_t got = (Py_ssize_t)PyDataType_ELSIZE(descr);
        Py_DECREF(descr);
        raise_fmt(Error, SHMAP_ECORRUPT, "record field list '%s' gives %zd-byte records, the "
                  "segment has %zu", fields, got, elsize);
        return NULL;
    }
    return descr;
bad:
    Py_DECREF(list);
    char field[SHMAP_RECORD_FIELDS_MAX];
    snprintf(field, sizeof field, "%.*s", (int)(end - p), p);
    raise_fmt(Error, SHMAP_ECORRUPT, "cannot read the record field list '%s': field %d '%s' "
              "has %s", fields, nth + 1, field, why);
    return NULL;
}

/* The numpy dtype of a type parsed by dtype_from_py() (@p fields: its record field list). */
static PyArray_Descr *descr_of_parsed(shmap_dtype dt, const char *fields)
{
    if (dt != SHMAP_RECORD)
        return descr_of_type(dt);
    size_t elsize = 0;
    shmap_record_parse(fields, &elsize);
    return descr_of_fields(fields, elsize);
}

/* The element type of a described segment. */
static PyArray_Descr *descr_of_info(const shmap_info *info)
{
    if (info->dtype == SHMAP_RECORD)
        return descr_of_fields(info->record_fields, info->elsize);
    return descr_of_type(info->dtype);
}

/* Is @p d a simple numpy type of more than one byte in the other byte order than this
 * machine's ('>f4' on a little-endian one)? */
static int other_order(PyArray_Descr *d)
{
    return !PyDataType_HASFIELDS(d) && !PyDataType_SUBARRAY(d) && PyDataType_ELSIZE(d) > 1 &&
           !PyArray_ISNBO(d->byteorder);
}

/* A simple (non-structured) numpy descriptor as a shmap type; @p field names a record field
 * in messages, or is NULL. */
static int shmap_type_of_simple(PyArray_Descr *d, const char *field, shmap_dtype *out)
{
    static const struct {
        char kind;
        int size;
        shmap_dtype dtype;
    } table[] = {
        {'b', 1, SHMAP_BOOL}, {'u', 1, SHMAP_U8},  {'i', 1, SHMAP_I8},   {'u', 2, SHMAP_U16},
        {'i', 2, SHMAP_I16},  {'u', 4, SHMAP_U32}, {'i', 4, SHMAP_I32},  {'u', 8, SHMAP_U64},
        {'i', 8, SHMAP_I64},  {'f', 2, SHMAP_F16}, {'f', 4, SHMAP_F32},  {'f', 8, SHMAP_F64},
        {'c', 8, SHMAP_C64},  {'c', 16, SHMAP_C128},
    };
    char where[96] = "";
    if (field)
        snprintf(where, sizeof where, "record field '%.60s': ", field);
    if (PyDataType_HASFIELDS(d) || PyDataType_SUBARRAY(d)) {
        raise_fmt(DtypeError, SHMAP_EDTYPE, "%snested structured or subarray types cannot be "
                  "stored (shmap records are flat)", where);
        return -1;
    }
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (table[i].kind != d->kind || table[i].size != PyDataType_ELSIZE(d))
            continue;
        if (table[i].size > 1 && !PyArray_ISNBO(d->byteorder)) {
            raise_fmt(DtypeError, SHMAP_EBYTEORDER, "%snumpy dtype %R has the other byte "
                      "order: shmap stores native order only (a raw open of numbers, open() "
                      "with dtype and shape, may name it)", where, (PyObject *)d);
            return -1;
        }
        *out = table[i].dtype;
        return 0;
    }
    raise_fmt(DtypeError, SHMAP_EDTYPE, "%snumpy dtype %R has no shmap element type (shmap "
              "stores u8 i8 u16 i16 u32 i32 u64 i64 f16 f32 f64 c64 c128 bool and packed "
              "records of them)", where, (PyObject *)d);
    return -1;
}

/* Append to a growing field list; -1 with DtypeError when it is too long. */
static int fields_append(char *buf, size_t *len, const char *text)
{
    size_t n = strlen(text);
    if (*len + n >= SHMAP_RECORD_FIELDS_MAX) {
        raise_fmt(DtypeError, SHMAP_EDTYPE, "record field list is longer than %d bytes",
                  SHMAP_RECORD_FIELDS_MAX - 1);
        return -1;
    }
    memcpy(buf + *len, text, n + 1);
    *len += n;
    return 0;
}

/*
 * Refuse a structured dtype whose fields are not packed one after another, saying why: @p
 * what says where it differs. Its bytes are kept as they are, not repacked behind the
 * caller's back (arrays of the dtype, and other programs, would then read other bytes); the
 * message says how to get a packed dtype instead. Padding (align=True, explicit offsets, a
 * larger itemsize) is the usual cause; with none, fields overlap or are out of order.
 * Returns -1 with DtypeError.
 */
static int refuse_unpacked(PyArray_Descr *d, const char *what)
{
    PyObject *names = PyDataType_NAMES(d), *fields = PyDataType_FIELDS(d);
    Py_ssize_t bytes = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
        PyObject *spec = PyDict_GetItem(fields, PyTuple_GET_ITEM(names, i));
        if (spec && PyTuple_Check(spec) && PyTuple_GET_SIZE(spec) >= 1)
            bytes += PyDataType_ELSIZE((PyArray_Descr *)PyTuple_GET_ITEM(spec, 0));
    }
    Py_ssize_t pad = (Py_ssize_t)PyDataType_ELSIZE(d) - bytes;
    if (pad > 0)
        raise_fmt(DtypeError, SHMAP_EDTYPE, "%s: the dtype has %zd bytes of padding (alignment "
                  "holes, from align=True, explicit offsets or itemsize), which shmap's packed "
                  "records cannot hold; pack it with numpy.lib.recfunctions.repack_fields(dtype) "
                  "(arrays of it too), or make it with align=False", what, pad);
    else
        raise_fmt(DtypeError, SHMAP_EDTYPE, "%s: the dtype's fields overlap or are not in the "
                  "order of their offsets, which shmap's packed records cannot hold; "
                  "numpy.lib.recfunctions.repack_fields(dtype) lays them out one after "
                  "another", what);
    return -1;
}

/*
 * A structured numpy dtype as a shmap field list, which must describe exactly the same
 * bytes: fields in order, packed, no padding anywhere, 1-d subarrays at most.
 */
/* Is `fname` a field name the record syntax takes (letters, digits and '_', not first a
 * digit)? Others would be read as a different record: 'x:f4,y' as two fields. */
static int field_name_ok(const char *fname)
{
    if (!((*fname >= 'A' && *fname <= 'Z') || (*fname >= 'a' && *fname <= 'z') ||
          *fname == '_'))
        return 0;
    for (const char *c = fname; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
              (*c >= '0' && *c <= '9') || *c == '_'))
            return 0;
    return 1;
}

static int fields_of_descr(PyArray_Descr *d, char *buf)
{
    PyObject *names = PyDataType_NAMES(d), *fields = PyDataType_FIELDS(d);
    size_t len = 0;
    Py_ssize_t offset = 0;
    buf[0] = '\0';
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        PyObject *spec = PyDict_GetItemWithError(fields, name);
        const char *fname = PyUnicode_AsUTF8(name);
        if (!spec || !fname || !PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) < 2) {
            if (!PyErr_Occurred())
                raise_fmt(DtypeError, SHMAP_EDTYPE, "malformed structured dtype");
            return -1;
        }
        if (!field_name_ok(fname)) {
            raise_fmt(DtypeError, SHMAP_EDTYPE, "record field %R has a bad name: shmap field "
                      "names are letters, digits and '_', not starting with a digit", name);
            return -1;
        }
        PyArray_Descr *fd = (PyArray_Descr *)PyTuple_GET_ITEM(spec, 0);
        Py_ssize_t foff = PyLong_AsSsize_t(PyTuple_GET_ITEM(spec, 1));
        if (foff < 0 && PyErr_Occurred())
            return -1;
        if (foff != offset) {
            char what[SHMAP_RECORD_FIELDS_MAX + 128];
            snprintf(what, sizeof what, "record field '%.*s' is at offset %zd, packed it "
                     "would be at %zd", SHMAP_RECORD_FIELDS_MAX, fname, foff, offset);
            return refuse_unpacked(d, what);
        }
        PyArray_Descr *base = fd;
        long long count = 0; /* 0: a scalar field, no [count] */
        if (PyDataType_SUBARRAY(fd)) {
            PyObject *shape = PyDataType_SUBARRAY(fd)->shape;
            base = PyDataType_SUBARRAY(fd)->base;
            if (!PyTuple_Check(shape) || PyTuple_GET_SIZE(shape) != 1) {
                raise_fmt(DtypeError, SHMAP_EDTYPE, "record field '%s' is a %R subarray: shmap "
                          "records hold 1-d counts only (flatten it)", fname, shape);
                return -1;
            }
            count = PyLong_AsLongLong(PyTuple_GET_ITEM(shape, 0));
            if (count < 1) {
                if (!PyErr_Occurred())
                    raise_fmt(DtypeError, SHMAP_EDTYPE, "record field '%s' has %lld items",
                              fname, count);
                return -1;
            }
        }
        shmap_dtype dt;
        if (shmap_type_of_simple(base, fname, &dt) < 0)
            return -1;
        char field[SHMAP_RECORD_FIELDS_MAX + 64];
        if (count)
            snprintf(field, sizeof field, "%s%s:%s[%lld]", i ? "," : "", fname,
                     shmap_dtype_name(dt), count);
        else
            snprintf(field, sizeof field, "%s%s:%s", i ? "," : "", fname, shmap_dtype_name(dt));
        if (fields_append(buf, &len, field) < 0)
            return -1;
        offset += PyDataType_ELSIZE(fd);
    }
    if (offset != PyDataType_ELSIZE(d)) {
        char what[128];
        snprintf(what, sizeof what, "structured dtype has %zd bytes of fields in a %zd-byte "
                 "item", offset, (Py_ssize_t)PyDataType_ELSIZE(d));
        return refuse_unpacked(d, what);
    }
    size_t elsize;
    if (shmap_record_parse(buf, &elsize) < 0) {
        raise_as(DtypeError, SHMAP_EDTYPE, NULL);
        return -1;
    }
    if (elsize != (size_t)PyDataType_ELSIZE(d)) {
        raise_fmt(DtypeError, SHMAP_EDTYPE, "structured dtype %R reads back as %zu-byte "
                  "records, not %zd", (PyObject *)d, elsize, (Py_ssize_t)PyDataType_ELSIZE(d));
        return -1;
    }
    return 0;
}

/* A record field list given as text, checked by the library and copied to @p fields: 0, or
 * -1 with DtypeError naming the bad field. */
static int record_from_text(const char *list, shmap_dtype *out, char *fields)
{
    size_t len = 0;
    if (fields_append(fields, &len, list) < 0)
        return -1;
    if (shmap_record_parse(fields, NULL) < 0) {
        raise_as(DtypeError, SHMAP_EDTYPE, NULL);
        return -1;
    }
    *out = SHMAP_RECORD;
    return 0;
}

/*
 * numpy's list of unnamed fields ('f4,u1', 'i8, i8'), read with shmap's meanings of its types
 * as every other string is ('i8' is 8 bits, as in 'x:i8' and the CLI): fields f0, f1, ...,
 * as numpy names them. A part shmap does not spell ('(2)i4', 'float_') is refused with the
 * record parser's message, which names the field; a numpy dtype object is read as numpy
 * reads it.
 */
static int unnamed_fields(const char *s, shmap_dtype *out, char *fields)
{
    char list[SHMAP_RECORD_FIELDS_MAX];
    size_t len = 0;
    list[0] = '\0';
    for (int i = 0;; i++) {
        const char *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        while (n > 0 && isspace((unsigned char)*s))
            s++, n--;
        while (n > 0 && isspace((unsigned char)s[n - 1]))
            n--;
        char part[SHMAP_RECORD_FIELDS_MAX + 32];
        snprintf(part, sizeof part, "%sf%d:%.*s", i ? "," : "", i,
                 (int)(n < SHMAP_RECORD_FIELDS_MAX ? n : SHMAP_RECORD_FIELDS_MAX), s);
        if (fields_append(list, &len, part) < 0)
            return -1;
        if (!end)
            break;
        s = end + 1;
    }
    return record_from_text(list, out, fields);
}

/*
 * What create() stores for a dtype argument: the type, and for records the field list in
 * @p fields (SHMAP_RECORD_FIELDS_MAX bytes). Strings go to the library's parser first, so
 * shmap and IDL spellings mean what they mean in C and the CLI ('int' is i16); numpy's own
 * spellings and every other dtype-like object go through numpy. A record is written as the
 * SPEC writes it, a bare field list (x:f4,y:f4,flag:u1), or as the CLI does, after
 * "record:". No type word and no numpy spelling has a ':', so a string with one that is no
 * type word is a field list, and its errors are the record parser's, which name the field.
 */
static int dtype_from_py(PyObject *obj, shmap_dtype *out, char *fields)
{
    fields[0] = '\0';
    if (obj == Py_None) {
        PyErr_SetString(PyExc_TypeError, "dtype is required (a numpy dtype or a type name)");
        return -1;
    }
    PyObject *conv = obj;
    if (PyUnicode_Check(obj)) {
        const char *s = utf8_arg(obj, "dtype");
        if (!s)
            return -1;
        if (strncasecmp(s, "record:", 7) == 0)
            return record_from_text(s + 7, out, fields);
        int rc = shmap_dtype_parse(s, out);
        if (rc == 0)
            return 0;
        if (rc == SHMAP_EBYTEORDER) {
            raise_fmt(DtypeError, rc, "%s (a raw open of numbers, open() with dtype and shape, "
                      "may name it)", shmap_last_error());
            return -1;
        }
        if (strchr(s, ':'))
            return record_from_text(s, out, fields);
        if (strchr(s, ','))
            return unnamed_fields(s, out, fields);
        /* Not a shmap word: numpy may know it ('float_', '<U4'). If it
         * does not either, the library's message (with its list of names) is the better,
         * told of the records the binding also takes: the library's parser takes no record,
         * so its list of words cannot name them. */
        PyArray_Descr *d = NULL;
        if (!PyArray_DescrConverter(obj, &d)) {
            PyErr_Clear();
            shmap_dtype_parse(s, out);
            const char *detail = shmap_last_error();
            if (detail && strncmp(detail, "unknown type ", 13) == 0) {
                char msg[SHMAP_RECORD_FIELDS_MAX + 256];
                snprintf(msg, sizeof msg, "%s, or a record field list such as "
                         "x:f4,y:f4,flag:u1", detail);
                raise_text(DtypeError, SHMAP_EDTYPE, NULL, msg);
            } else {
                raise_as(DtypeError, SHMAP_EDTYPE, NULL);
            }
            return -1;
        }
        conv = (PyObject *)d;
    } else {
        PyArray_Descr *d = NULL;
        if (!PyArray_DescrConverter(obj, &d))
            return -1;
        conv = (PyObject *)d;
    }
    PyArray_Descr *d = (PyArray_Descr *)conv;
    int rc;
    if (PyDataType_HASFIELDS(d)) {
        rc = fields_of_descr(d, fields);
        if (rc == 0)
            *out = SHMAP_RECORD;
    } else if (PyDataType_SUBARRAY(d)) {
        raise_fmt(DtypeError, SHMAP_EDTYPE, "dtype %R is a subarray type: give its dimensions "
                  "in the shape instead", conv);
        rc = -1;
    } else {
        rc = shmap_type_of_simple(d, NULL, out);
    }
    Py_DECREF(d);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Shapes */

/* Refuse a shape as the library does: shmap.ArgumentError, code ESHAPE, naming the segment
 * @p who (may be NULL). Returns -1. */
static int shape_refuse(const char *who, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int shape_refuse(const char *who, const char *fmt, ...)
{
    char text[128], msg[SHMAP_NAME_MAX + 160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    snprintf(msg, sizeof msg, "%s%s%s", who ? who : "", who ? ": " : "", text);
    raise_text(ArgumentError, SHMAP_ESHAPE, NULL, msg);
    return -1;
}

/*
 * A shape argument (an int or a sequence of ints) for segment @p who (may be NULL): 0, or
 * -1 with TypeError (not ints) or shmap.ArgumentError, code ESHAPE (the wrong number of
 * dimensions, one out of range or zero), refused here before any name is looked up.
 */
static int shape_from_py(PyObject *obj, const char *who, unsigned *ndim, uint64_t *dims)
{
    PyObject *seq;
    /* As numpy takes a shape: an int (a 0-d integer array too), or a sequence of them; not
     * bytes (b"4" would be (52,)), a str, a set (unordered) or a mapping. */
    if (PyLong_Check(obj) || PyArray_IsScalar(obj, Integer) ||
        (PyArray_Check(obj) && PyArray_NDIM((PyArrayObject *)obj) == 0)) {
        seq = PyTuple_Pack(1, obj);
    } else if (!PySequence_Check(obj) || PyUnicode_Check(obj) || PyBytes_Check(obj) ||
               PyByteArray_Check(obj) || PyMemoryView_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "shape must be an int or a sequence of ints, not "
                                      "%.100s", Py_TYPE(obj)->tp_name);
        return -1;
    } else {
        /* Too many refused before anything is copied; what it says of its length is only
         * a hint (it is counted again below). */
        Py_ssize_t hint = PySequence_Size(obj);
        if (hint < 0)
            PyErr_Clear();
        else if (hint > SHMAP_MAX_DIMS)
            return shape_refuse(who, "shape has %zd dimensions: 1 to "
                                SHMAP_STR(SHMAP_MAX_DIMS) " are allowed", hint);
        /* A copy: an item's __index__ may change a list the caller holds. What iterating
         * it raises goes on as it is. */
        PyObject *iter = PyObject_GetIter(obj);
        if (!iter && PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "shape must be an int or a sequence of ints, not "
                                          "%.100s", Py_TYPE(obj)->tp_name);
        }
        seq = iter ? PySequence_Tuple(iter) : NULL;
        Py_XDECREF(iter);
    }
    if (!seq)
        return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    if (n < 1 || n > SHMAP_MAX_DIMS) {
        Py_DECREF(seq);
        return shape_refuse(who, "shape has %zd dimensions: 1 to " SHMAP_STR(SHMAP_MAX_DIMS)
                            " are allowed", n);
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(seq, i);
        /* A bool is no size (numpy deprecates it as one). */
        PyObject *index = PyBool_Check(item) || PyArray_IsScalar(item, Bool)
                              ? NULL
                              : PyNumber_Index(item);
        /* What __index__ raised itself (a KeyboardInterrupt, say) goes on as it is. */
        if (!index && (!PyErr_Occurred() || PyErr_ExceptionMatches(PyExc_TypeError))) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "shape must hold ints, not %.100s",
                         Py_TYPE(item)->tp_name);
        }
        if (!index) {
            Py_DECREF(seq);
            return -1;
        }
        int overflow;
        long long small = PyLong_AsLongLongAndOverflow(index, &overflow);
        unsigned long long v = (unsigned long long)small;
        if (overflow > 0)
            v = PyLong_AsUnsignedLongLong(index);
        Py_DECREF(index);
        if (PyErr_Occurred() || overflow < 0 || (overflow == 0 && small < 0)) {
            PyErr_Clear();
            Py_DECREF(seq);
            return shape_refuse(who, "shape[%zd] is out of range (dimensions are 1 to "
                                     "2**64-1)", i);
        }
        if (v == 0) {
            Py_DECREF(seq);
            return shape_refuse(who, "dimension %zd is zero", i); /* the library's words */
        }
        dims[i] = v;
    }
    *ndim = (unsigned)n;
    Py_DECREF(seq);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Keyword values */

/*
 * Refuse a keyword the library would refuse: shmap.ArgumentError with code EKEYWORD, as
 * shmap_keyword_set() gives, and its wording. The checks that need no segment are made
 * here, before the name is cut to the fixed size of shmap_keyword::name or a segment is
 * created; the others (the characters of a name) are the library's. The message is @p
 * who, the segment's name, then ": " and @p fmt, as the library's messages are. Returns -1.
 */
static int kw_refuse(const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PyObject *msg = PyUnicode_FromFormatV(fmt, ap);
    va_end(ap);
    /* The segment's name is put in front as bytes, and the whole decoded as names are (a
     * byte that is not UTF-8 as \udcXX), not through the format, which would make it
     * U+FFFD; always in front, even where the text quotes it (a keyword name holding it). */
    const char *text = msg ? PyUnicode_AsUTF8(msg) : NULL;
    char *both = text ? PyMem_Malloc(strlen(who ? who : "") + strlen(text) + 3) : NULL;
    if (both) {
        sprintf(both, "%s%s%s", who ? who : "", who ? ": " : "", text);
        raise_text(ArgumentError, SHMAP_EKEYWORD, NULL, both);
        PyMem_Free(both);
    } else if (text) {
        PyErr_NoMemory();
    }
    Py_XDECREF(msg);
    return -1;
}

/* A keyword's name, upper-case as the library stores it, for messages. */
static void kw_upper(const shmap_keyword *kw, char *out)
{
    size_t i = 0;
    for (; i < SHMAP_KEYWORD_NAME_MAX - 1 && kw->name[i]; i++)
        out[i] = (char)(kw->name[i] >= 'a' && kw->name[i] <= 'z' ? kw->name[i] - 'a' + 'A'
                                                                  : kw->name[i]);
    out[i] = '\0';
}

/* A keyword name of segment @p who into @p out; -1 with TypeError or shmap.ArgumentError. */
static int kw_name_from_py(PyObject *name, const char *who, char *out)
{
    if (!PyUnicode_Check(name)) {
        PyErr_Format(PyExc_TypeError, "keyword name must be a str, not %.100s",
                     Py_TYPE(name)->tp_name);
        return -1;
    }
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(name, &len);
    if (!s)
        return -1;
    /* A NUL would cut the name short in C, and name another keyword. */
    if (strlen(s) != (size_t)len)
        return kw_refuse(who, "keyword name %R may hold only letters, digits, '_' and '-'",
                         name);
    if (len == 0 || len >= SHMAP_KEYWORD_NAME_MAX)
        return kw_refuse(who, "keyword name '%s' must be 1 to %d characters", s,
                         SHMAP_KEYWORD_NAME_MAX - 1);
    memcpy(out, s, (size_t)len + 1);
    return 0;
}

/*
 * The text of a keyword's string value or comment (@p what), as UTF-8 that fits a buffer of
 * @p size with its NUL and has no control character (NUL included), which the library
 * refuses as not printable; NULL with TypeError or shmap.ArgumentError. The limits are in
 * bytes of UTF-8, and the messages say so (a non-ASCII character takes 2 to 4).
 */
static const char *kw_text(PyObject *obj, const char *what, const char *who,
                           const shmap_keyword *kw, size_t size, size_t *lenp)
{
    if (!PyUnicode_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "keyword %s must be a str, not %.100s", what,
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(obj, &len);
    if (!s)
        return NULL;
    char upper[SHMAP_KEYWORD_NAME_MAX];
    Py_ssize_t index = 0; /* of the character at byte i, counted as lead bytes go by */
    for (Py_ssize_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        /* C1 (U+0080 to U+009F, UTF-8 C2 80 to C2 9F) too, as the library refuses it. */
        unsigned int cp = c == 0xc2 && i + 1 < len ? (unsigned char)s[i + 1] : c;
        if (c < 0x20 || c == 0x7f || (c == 0xc2 && cp >= 0x80 && cp <= 0x9f)) {
            PyObject *ch = PyUnicode_FromOrdinal(cp);
            if (!ch)
                return NULL;
            kw_upper(kw, upper);
            kw_refuse(who, "keyword %s: %s holds a control character, %R at index %zd: "
                           "keyword strings are printable text", upper, what, ch, index);
            Py_DECREF(ch);
            return NULL;
        }
        if ((c & 0xc0) != 0x80)
            index++;
    }
    if ((size_t)len >= size) {
        kw_upper(kw, upper);
        kw_refuse(who, "keyword %s: %s must be at most %d bytes in UTF-8 (it is %zd bytes)",
                  upper, what, (int)size - 1, len);
        return NULL;
    }
    *lenp = (size_t)len;
    return s;
}

/* A keyword value of segment @p who into @p kw, whose name is set; -1 raised. */
static int kw_value_from_py(PyObject *v, const char *who, shmap_keyword *kw)
{
    if (PyBool_Check(v) || PyArray_IsScalar(v, Bool)) {
        int t = PyObject_IsTrue(v);
        if (t < 0)
            return -1;
        kw->type = SHMAP_KW_BOOL;
        kw->i = t;
    } else if (PyLong_Check(v) || PyArray_IsScalar(v, Integer)) {
        int overflow;
        long long i = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow) {
            PyErr_SetString(PyExc_OverflowError, "keyword integer out of the 64-bit range");
            return -1;
        }
        if (i == -1 && PyErr_Occurred())
            return -1;
        kw->type = SHMAP_KW_INT;
        kw->i = i;
    } else if (PyFloat_Check(v) || PyArray_IsScalar(v, Floating)) {
        double f = PyFloat_AsDouble(v);
        if (f == -1.0 && PyErr_Occurred())
            return -1;
        kw->type = SHMAP_KW_FLOAT;
        kw->f = f;
    } else if (PyUnicode_Check(v)) {
        size_t len;
        const char *s = kw_text(v, "string value", who, kw, sizeof kw->s, &len);
        if (!s)
            return -1;
        kw->type = SHMAP_KW_STRING;
        memcpy(kw->s, s, len + 1);
    } else {
        PyErr_Format(PyExc_TypeError, "keyword values are int, float, str or bool, or a "
                                      "(value, comment) pair, not %.100s", Py_TYPE(v)->tp_name);
        return -1;
    }
    return 0;
}

/* A keyword comment of segment @p who into @p kw, whose name is set; -1 raised. */
static int kw_comment_from_py(PyObject *c, const char *who, shmap_keyword *kw)
{
    size_t len;
    const char *s = kw_text(c, "comment", who, kw, sizeof kw->comment, &len);
    if (!s)
        return -1;
    memcpy(kw->comment, s, len + 1);
    return 0;
}

static PyObject *kw_value_to_py(const shmap_keyword *kw)
{
    switch (kw->type) {
    case SHMAP_KW_INT:
        return PyLong_FromLongLong(kw->i);
    case SHMAP_KW_FLOAT:
        return PyFloat_FromDouble(kw->f);
    case SHMAP_KW_BOOL:
        return PyBool_FromLong(kw->i != 0);
    case SHMAP_KW_STRING:
        return PyUnicode_DecodeUTF8(kw->s, (Py_ssize_t)strnlen(kw->s, sizeof kw->s), "replace");
    }
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------------------------------- */
/* Description dicts: the fields of `shmap info --json`, same names, order and types. */

/*
 * The name of a user (@p group 0) or group, or None when the system has none for the id. A
 * group with many members can outgrow the first buffer (ERANGE): the lookup is made again
 * with a larger one, rather than taken for a group without a name.
 */
static PyObject *id_name(unsigned long id, int group)
{
    char stack[4096], *buf = stack, *heap = NULL;
    size_t size = sizeof stack;
    PyObject *res = NULL;
    for (;;) {
        const char *name = NULL;
        int rc;
        if (group) {
            struct group gr, *found = NULL;
            rc = getgrgid_r((gid_t)id, &gr, buf, size, &found);
            if (rc == 0 && found)
                name = gr.gr_name;
        } else {
            struct passwd pw, *found = NULL;
            rc = getpwuid_r((uid_t)id, &pw, buf, size, &found);
            if (rc == 0 && found)
                name = pw.pw_name;
        }
        if (rc == ERANGE && size < ((size_t)1 << 24)) {
            size *= 4;
            char *bigger = PyMem_Realloc(heap, size);
            if (!bigger)
                break;
            heap = buf = bigger;
            continue;
        }
        res = name ? PyUnicode_DecodeUTF8(name, (Py_ssize_t)strlen(name), "replace")
                   : Py_NewRef(Py_None);
        break;
    }
    PyMem_Free(heap);
    return res ? res : PyErr_NoMemory();
}

/*
 * The owner and group names of one listing. Every entry's owner and group were looked up
 * in the user and group databases (getpwuid_r, getgrgid_r: /etc/passwd read again, or a
 * directory service asked), about half of list()'s time over 2,000 segments, though the
 * ids repeat from entry to entry. A listing remembers the names it found, for that call
 * only: the next call looks again, so a user renamed or added meanwhile is seen.
 */
typedef struct {
    PyObject *users;  /* uid -> name or None */
    PyObject *groups; /* gid -> name or None */
} id_names;

/* The name of a user or group, from @p cache (a dict of @p ids, or NULL for none). */
static PyObject *cached_id_name(PyObject *cache, unsigned long id, int group)
{
    if (!cache)
        return id_name(id, group);
    PyObject *key = PyLong_FromUnsignedLong(id);
    if (!key)
        return NULL;
    PyObject *name = PyDict_GetItemWithError(cache, key); /* borrowed */
    if (name) {
        Py_INCREF(name);
    } else if (!PyErr_Occurred()) {
        name = id_name(id, group);
        if (name && PyDict_SetItem(cache, key, name) < 0)
            Py_CLEAR(name);
    }
    Py_DECREF(key);
    return name;
}

/* "2026-11-23T16:30:00.123Z", as the CLI prints it. */
static PyObject *iso_time(int64_t ns)
{
    int64_t sec = ns / 1000000000, rem = ns % 1000000000;
    if (rem < 0) {
        rem += 1000000000;
        sec--;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    char date[32], buf[48];
    if (!gmtime_r(&t, &tm))
        return PyUnicode_FromString("?");
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, sizeof buf, "%s.%03dZ", date, (int)(rem / 1000000));
    return PyUnicode_FromString(buf);
}

static PyObject *mode_string(unsigned mode)
{
    char buf[16];
    snprintf(buf, sizeof buf, "%04o", mode & 07777u);
    return PyUnicode_FromString(buf);
}

static PyObject *str_or_none(const char *s)
{
    if (!s)
        Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}

static PyObject *shape_list(const shmap_info *info)
{
    unsigned n = info->ndim < SHMAP_MAX_DIMS ? info->ndim : SHMAP_MAX_DIMS;
    PyObject *list = PyList_New(n);
    for (unsigned i = 0; list && i < n; i++) {
        PyObject *d = PyLong_FromUnsignedLongLong(info->dims[i]);
        if (!d) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, d);
    }
    return list;
}

/* Set d[key] = value, stealing @p value; -1 on error (value NULL included). */
static int put(PyObject *d, const char *key, PyObject *value)
{
    if (!value)
        return -1;
    int rc = PyDict_SetItemString(d, key, value);
    Py_DECREF(value);
    return rc;
}

/* The members every listed object has, segment or not; @p ids (may be NULL) remembers the
 * owner and group names of a listing. */
static int object_members(PyObject *d, const shmap_info *info, const id_names *ids)
{
    if (put(d, "store", PyUnicode_FromString(shmap_store_name(info->store))) < 0 ||
        put(d, "os_handle", name_to_py(info->os_handle)) < 0 ||
        put(d, "size", PyLong_FromUnsignedLongLong(info->size)) < 0 ||
        put(d, "mode", mode_string(info->mode)) < 0 ||
        put(d, "uid", PyLong_FromUnsignedLongLong((unsigned long long)info->uid)) < 0 ||
        put(d, "gid", PyLong_FromUnsignedLongLong((unsigned long long)info->gid)) < 0 ||
        put(d, "owner", cached_id_name(ids ? ids->users : NULL, info->uid, 0)) < 0 ||
        put(d, "group", cached_id_name(ids ? ids->groups : NULL, info->gid, 1)) < 0)
        return -1;
    return 0;
}

/* The members that describe the array, from dtype to data_offset: the same for a segment
 * and a raw mapping. */
static int array_members(PyObject *d, const shmap_info *info)
{
    if (put(d, "dtype", PyUnicode_FromString(shmap_dtype_name(info->dtype))) < 0 ||
        put(d, "numpy", str_or_none(shmap_dtype_numpy(info->dtype))) < 0 ||
        put(d, "record_fields",
            str_or_none(info->dtype == SHMAP_RECORD ? info->record_fields : NULL)) < 0 ||
        put(d, "elsize", PyLong_FromSize_t(info->elsize)) < 0 ||
        put(d, "ndim", PyLong_FromUnsignedLong(info->ndim)) < 0 ||
        put(d, "shape", shape_list(info)) < 0 ||
        put(d, "nelem", PyLong_FromUnsignedLongLong(info->nelem)) < 0 ||
        put(d, "bytes", PyLong_FromUnsignedLongLong(info->data_size)) < 0 ||
        put(d, "data_offset", PyLong_FromUnsignedLongLong(info->data_offset)) < 0)
        return -1;
    return 0;
}

/* The keywords and their comments; nkw < 0: they could not be read (None). */
static int keyword_members(PyObject *d, const shmap_keyword *kw, int nkw)
{
    if (nkw < 0) {
        if (put(d, "keywords", Py_NewRef(Py_None)) < 0 ||
            put(d, "keyword_comments", Py_NewRef(Py_None)) < 0)
            return -1;
        return 0;
    }
    PyObject *values = PyDict_New(), *comments = PyDict_New();
    if (!values || !comments)
        goto fail;
    for (int i = 0; i < nkw; i++) {
        PyObject *v = kw_value_to_py(&kw[i]);
        if (!v || PyDict_SetItemString(values, kw[i].name, v) < 0) {
            Py_XDECREF(v);
            goto fail;
        }
        Py_DECREF(v);
        if (kw[i].comment[0] && put(comments, kw[i].name, str_or_none(kw[i].comment)) < 0)
            goto fail;
    }
    if (put(d, "keywords", values) < 0) {
        Py_DECREF(comments);
        return -1;
    }
    return put(d, "keyword_comments", comments);
fail:
    Py_XDECREF(values);
    Py_XDECREF(comments);
    return -1;
}

/* One attached process: the members of `shmap info --json`, in its order. */
static PyObject *attacher_dict(const shmap_attacher *a)
{
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    if (put(d, "pid", PyLong_FromLong((long)a->pid)) < 0 ||
        put(d, "alive", PyBool_FromLong(a->alive)) < 0 ||
        put(d, "shared", PyLong_FromUnsignedLong(a->shared)) < 0 ||
        put(d, "writer", PyBool_FromLong(a->writer)) < 0 ||
        put(d, "start", PyLong_FromUnsignedLongLong(a->start)) < 0 ||
        put(d, "writable", PyBool_FromLong(a->writable)) < 0 ||
        put(d, "other_pidns", PyBool_FromLong(a->other_pidns)) < 0)
        Py_CLEAR(d);
    return d;
}

static PyObject *attached_list(const shmap_attacher *att, int natt)
{
    PyObject *list = PyList_New(natt > 0 ? natt : 0);
    for (int i = 0; list && i < natt; i++) {
        PyObject *d = attacher_dict(&att[i]);
        if (!d)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, i, d);
    }
    return list;
}

/* What an info looks at that a listing does not: what shmap_mapped_by() found (n < 0
 * where it could not look), and shmap_write_state() (write_state < 0 where not asked). */
typedef struct mapped_set {
    shmap_mapper *list;
    int n;
    int unseen;
    int write_state;
    pid_t write_pid;
} mapped_set;

#define MAPPED_SET_INIT {NULL, -1, 0, -1, 0}

static void mapped_find(shmap_seg *seg, mapped_set *out)
{
    out->n = shmap_mapped_by(seg, &out->list, &out->unseen);
    out->write_state = shmap_write_state(seg, &out->write_pid);
    if (out->write_state < 0)
        out->write_state = SHMAP_WRITE_NONE;
}

/* A write state's name, as `shmap info --json` and Segment.write_state spell it. */
static const char *write_state_name(int state)
{
    static const char *const names[] = {"none", "in_progress", "abandoned", "aborted"};
    return state >= 0 && state <= SHMAP_WRITE_ABORTED ? names[state] : names[0];
}

/* "write", as `shmap info --json` has it; None where nobody asked (a listing). */
static int write_member(PyObject *d, const mapped_set *m)
{
    if (!m || m->write_state < 0)
        return put(d, "write", Py_NewRef(Py_None));
    int s = m->write_state;
    PyObject *w = PyDict_New();
    if (!w || put(w, "state", PyUnicode_FromString(write_state_name(s))) < 0 ||
        put(w, "pid", s != SHMAP_WRITE_NONE && m->write_pid > 0
                          ? PyLong_FromLong((long)m->write_pid)
                          : Py_NewRef(Py_None)) < 0) {
        Py_XDECREF(w);
        return -1;
    }
    return put(d, "write", w);
}

/* "mapped_by" and "mapped_by_unseen", as `shmap info --json` has them; None for both where
 * nobody looked (@p m NULL: a listing) or /proc could not be read. */
static int mapped_members(PyObject *d, const mapped_set *m)
{
    if (!m || m->n < 0)
        return put(d, "mapped_by", Py_NewRef(Py_None)) < 0 ||
                       put(d, "mapped_by_unseen", Py_NewRef(Py_None)) < 0
                   ? -1 : 0;
    PyObject *list = PyList_New(m->n);
    for (int i = 0; list && i < m->n; i++) {
        PyObject *e = PyDict_New();
        if (!e || put(e, "pid", PyLong_FromLong((long)m->list[i].pid)) < 0 ||
            put(e, "start", PyLong_FromUnsignedLongLong(m->list[i].start)) < 0 ||
            put(e, "writable", PyBool_FromLong(m->list[i].writable)) < 0) {
            Py_XDECREF(e);
            Py_CLEAR(list);
        } else {
            PyList_SET_ITEM(list, i, e);
        }
    }
    return put(d, "mapped_by", list) < 0 ||
                   put(d, "mapped_by_unseen", PyLong_FromLong(m->unseen)) < 0
               ? -1 : 0;
}

static PyObject *pid_or_none(pid_t pid);

/* A lock state as a dict (the CLI's JSON "lock"), or None when @p li is NULL. */
static PyObject *lockinfo_dict(const shmap_lockinfo *li)
{
    if (!li)
        return Py_NewRef(Py_None);
    PyObject *d = PyDict_New();
    if (d && (put(d, "writer", pid_or_none(li->writer)) < 0 ||
              put(d, "writer_alive", PyBool_FromLong(li->writer > 0 && li->writer_alive)) < 0 ||
              put(d, "writer_waiting",
                  PyBool_FromLong(li->writer > 0 && li->writer_waiting)) < 0 ||
              put(d, "shared", PyLong_FromUnsignedLong(li->shared)) < 0 ||
              put(d, "waiters", PyBool_FromLong(li->waiters)) < 0 ||
              put(d, "owner_died", PyBool_FromLong(li->owner_died)) < 0 ||
              put(d, "dead_pid", pid_or_none(li->dead_pid)) < 0 ||
              put(d, "writer_other_pidns",
                  PyBool_FromLong(li->writer > 0 && li->writer_other_pidns)) < 0))
        Py_CLEAR(d);
    return d;
}

/* The ring and the last publish, as the CLI's JSON ends a segment's object. */
static int stream_members(PyObject *d, const shmap_info *info)
{
    int ring = (info->flags & SHMAP_SEG_RING) && info->ndim > 0 && info->dims[0] > 0;
    if (put(d, "ring", PyBool_FromLong(ring)) < 0 ||
        put(d, "ring_length", ring ? PyLong_FromUnsignedLongLong(info->dims[0])
                                   : Py_NewRef(Py_None)) < 0 ||
        put(d, "frame_size", ring ? PyLong_FromUnsignedLongLong(info->data_size / info->dims[0])
                                  : Py_NewRef(Py_None)) < 0)
        return -1;
    if (!info->published_ns)
        return put(d, "published", Py_NewRef(Py_None)) < 0 ||
                       put(d, "published_ns", Py_NewRef(Py_None)) < 0
                   ? -1 : 0;
    return put(d, "published", iso_time(info->published_ns)) < 0 ||
                   put(d, "published_ns", PyLong_FromLongLong(info->published_ns)) < 0
               ? -1 : 0;
}

/* A segment's description; @p att may be NULL when @p natt is 0, @p li NULL where the lock
 * state was not read, @p mapped NULL where nobody looked, @p ids NULL outside a listing. */
static PyObject *info_dict(const shmap_info *info, const shmap_keyword *kw, int nkw,
                           const shmap_attacher *att, int natt, const shmap_lockinfo *li,
                           const mapped_set *mapped, const id_names *ids)
{
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    int bad =
        put(d, "name", name_to_py(info->name)) < 0 || put(d, "shmap", Py_NewRef(Py_True)) < 0 ||
        object_members(d, info, ids) < 0 ||
        put(d, "version", PyLong_FromUnsignedLong(info->version)) < 0 ||
        array_members(d, info) < 0 ||
        put(d, "creator_pid", PyLong_FromLong((long)info->creator_pid)) < 0 ||
        put(d, "creator_uid",
            PyLong_FromUnsignedLongLong((unsigned long long)info->creator_uid)) < 0 ||
        put(d, "attached", attached_list(att, att ? natt : 0)) < 0 ||
        put(d, "lock", lockinfo_dict(li)) < 0 ||
        put(d, "generation", PyLong_FromUnsignedLongLong(info->generation)) < 0 ||
        put(d, "created", iso_time(info->created_ns)) < 0 ||
        put(d, "created_ns", PyLong_FromLongLong(info->created_ns)) < 0 ||
        put(d, "transient", PyBool_FromLong(info->transient)) < 0 ||
        put(d, "flags", PyLong_FromUnsignedLong(info->flags)) < 0 ||
        put(d, "keyword_capacity", PyLong_FromUnsignedLong(info->keyword_capacity)) < 0 ||
        keyword_members(d, kw, nkw) < 0 || stream_members(d, info) < 0 ||
        write_member(d, mapped) < 0 ||
        put(d, "deleted", PyBool_FromLong(info->deleted)) < 0 || mapped_members(d, mapped) < 0;
    if (bad)
        Py_CLEAR(d);
    return d;
}

/*
 * A raw mapping's description, as `shmap info NAME --dtype T --shape S --json` prints it:
 * what the object and the caller's description give, and null for what only a header
 * would record.
 */
static PyObject *raw_info_dict(const shmap_info *info, int priv, PyArray_Descr *descr)
{
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    /* A type in the other byte order (open(..., dtype='>f4')) is said so, as numpy says it. */
    int other = descr && other_order(descr);
    int bad =
        put(d, "name", name_to_py(info->name)) < 0 || put(d, "shmap", Py_NewRef(Py_False)) < 0 ||
        put(d, "raw", Py_NewRef(Py_True)) < 0 || object_members(d, info, NULL) < 0 ||
        array_members(d, info) < 0 ||
        (other && put(d, "numpy", PyObject_GetAttrString((PyObject *)descr, "str")) < 0) ||
        put(d, "private", PyBool_FromLong(priv)) < 0 ||
        put(d, "creator_pid", Py_NewRef(Py_None)) < 0 ||
        put(d, "attached", Py_NewRef(Py_None)) < 0 ||
        put(d, "generation", Py_NewRef(Py_None)) < 0 ||
        put(d, "created", Py_NewRef(Py_None)) < 0 ||
        put(d, "deleted", PyBool_FromLong(info->deleted)) < 0;
    if (bad)
        Py_CLEAR(d);
    return d;
}

/* As `shmap ls --all --json` prints it (cli/json.c): what no header says is None. */
static PyObject *foreign_dict(const shmap_entry *e, const id_names *ids)
{
    static const char *const unknown[] = {"dtype", "numpy", "record_fields", "elsize", "ndim",
                                          "shape", "nelem", "bytes", "creator_pid", "attached",
                                          "generation", "created"};
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    int bad = put(d, "name", name_to_py(e->info.name)) < 0 ||
              put(d, "shmap", Py_NewRef(Py_False)) < 0 || object_members(d, &e->info, ids) < 0;
    for (size_t i = 0; !bad && i < sizeof unknown / sizeof unknown[0]; i++)
        bad = put(d, unknown[i], Py_NewRef(Py_None)) < 0;
    /* The detail may quote bytes of a damaged header: U+FFFD for what is not UTF-8. */
    const char *why = e->error[0] ? e->error : shmap_strerror(e->status);
    if (bad ||
        put(d, "error", PyUnicode_DecodeUTF8(why, (Py_ssize_t)strlen(why), "replace")) < 0 ||
        put(d, "error_code", PyUnicode_FromString(shmap_errname(e->status))) < 0 ||
        put(d, "deleted", PyBool_FromLong(e->info.deleted)) < 0)
        Py_CLEAR(d);
    return d;
}

/* ---------------------------------------------------------------------------------------- */
/* Segment */

typedef struct SegmentObject {
    PyObject_HEAD
    shmap_seg *seg;        /* NULL once closed */
    PyObject *name;        /* str: the canonical name, as os.fsdecode() spells it */
    PyObject *cname;       /* bytes: the same, as the library has it */
    PyArray_Descr *descr;  /* one element */
    PyObject *shape;       /* tuple */
    int ndim;
    npy_intp dims[SHMAP_MAX_DIMS];
    npy_intp strides[SHMAP_MAX_DIMS];
    Py_ssize_t nbytes, elsize;
    int writable;
    char raw;              /* opened raw: no header (char: a T_BOOL member) */
    char ring;             /* a ring of frames: the first dimension counts them */
    char priv;             /* a private (copy-on-write) mapping */
    char held;             /* opened with hold=True: the handle holds the lock until close */
    char created;          /* the process created_pid created the segment behind the mapping */
    pid_t created_pid;     /* the process that opened this Segment: a forked child made nothing */
    pid_t held_pid;        /* the process that took the hold: a forked child holds nothing */
    int fd;                /* open_fd() of a mapping without a descriptor: a duplicate of
                            * the one given, for fileno(); -1 otherwise */
    uint64_t offset;       /* where the data starts in the object */
    uint64_t seen;         /* the generation wait() and read_frame() wait to pass */
    char *format;          /* PEP 3118 format of one element, made on first export */
    PyObject *weakrefs;
    uint64_t serial;       /* which Segment took a Lock, without a pointer that may dangle */
    list_link link; /* in the list of open Segments */
} SegmentObject;

static PyTypeObject Segment_Type;
static PyTypeObject Keywords_Type;
static list_link *segments_head;
static uint64_t segment_serials; /* the last SegmentObject.serial given (under the GIL) */

static void segments_add(SegmentObject *s)
{
    list_add(&segments_head, &s->link);
}

static void segments_remove(SegmentObject *s)
{
    list_remove(&segments_head, &s->link);
}

/* The name of a Segment as the library has it, for calls and messages. */
static const char *seg_cname(const SegmentObject *self)
{
    return PyBytes_AS_STRING(self->cname);
}

/*
 * raise_lib() for a failed call on a Segment's handle, naming the segment. A write through a
 * read-only Segment (EREADONLY from publish, write_begin, keywords) is the handle's doing,
 * not the user's permissions, whatever the class says: the message tells how to write.
 */
static PyObject *raise_seg(SegmentObject *self, int rc)
{
    if (rc == SHMAP_EREADONLY && !self->writable) {
        const char *detail = shmap_last_error();
        char msg[SHMAP_NAME_MAX + 512];
        snprintf(msg, sizeof msg, "%s (this Segment was opened read-only: open the segment "
                 "with readonly=False to write it)", *detail ? detail : shmap_strerror(rc));
        return raise_text(NULL, rc, seg_cname(self), msg);
    }
    return raise_lib(rc, seg_cname(self));
}

static int check_open(SegmentObject *self)
{
    if (self->seg)
        return 0;
    PyErr_Format(PyExc_ValueError, "segment %R is closed", self->name);
    return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* Blocking calls */

/*
 * Design note: blocking. The library's waits (lock, wait, read_frame, delete, a held open)
 * sleep on a futex. Python runs signal handlers in the main thread, between bytecodes, so a
 * call that slept for its whole timeout with the GIL released would make Ctrl-C wait for it.
 * Each blocking call is therefore one library call with the GIL released and a wait check set
 * for the thread (shmap_set_wait_check()): whenever the library's sleep ends (a wake, a
 * signal, and at least every 10 ms in a lock wait, 50 ms in a wait for a publish) the check
 * sees whether its Segment was closed meanwhile and, in the main thread, takes the GIL back to
 * run the pending signal handlers (an exception, KeyboardInterrupt, ends the call); then it
 * lets the GIL go again and the wait goes on where it was. Only the main thread runs signal
 * handlers, so other threads' checks never take the GIL unless their Segment was closed: a
 * thread woken because the lock is free takes it at once, without first queueing for the GIL
 * behind busy Python threads (up to the 5 ms switch interval each time). The main thread takes
 * it at most every CHECK_GIL_NS (a signal that lands in between is seen at the next check, one
 * sleep slice later at most). Splitting the wait into short calls instead would give a waiting
 * writer's claim back at each split, so readers that keep overlapping could starve it: with
 * the check, the library's writer preference holds for the whole wait, as in C.
 *
 * A blocking call never uses the Segment's own handle without the GIL: it takes a reference
 * of its own (shmap_dup), on the list the exit hook walks, so close() from another thread
 * cannot free the handle under it, and the destroy policy still holds at exit.
 */
#define BLOCKING_PYERR 1 /* blocking(): a Python exception is set */

/* A timeout argument: None (or inf) waits for ever (-1); else seconds, >= 0. */
static int timeout_from_py(PyObject *obj, double *out)
{
    if (obj == Py_None) {
        *out = -1;
        return 0;
    }
    double t = PyFloat_AsDouble(obj);
    if (t == -1.0 && PyErr_Occurred())
        return -1;
    if (isnan(t) || t < 0) {
        PyErr_Format(PyExc_ValueError, "timeout must be None or a number of seconds >= 0, "
                                       "not %R", obj);
        return -1;
    }
    *out = isinf(t) ? -1 : t;
    return 0;
}

/* A blocking library call with this timeout (0: only try; < 0: none). */
typedef int (*blocking_call)(void *ctx, double timeout_s);

/* The state of one blocking call, for its wait check. */
typedef struct wait_state {
    PyThreadState *tstate;      /* saved while the GIL is let go */
    SegmentObject *owner;       /* may be NULL */
    int main_thread;            /* this thread runs signal handlers */
    int64_t signals_checked;    /* CLOCK_MONOTONIC ns of the last look at them */
    int raised;                 /* the check set a Python exception */
    int abandoned;              /* the check ended the wait for the interpreter's exit */
    struct wait_state *outer;   /* a blocking call that a signal handler interrupted */
    unsigned long thread;       /* the calling thread (PyThread_get_thread_ident()) */
} wait_state;

/* The innermost blocking call of this thread: a signal handler run by a check may block
 * too, and the outer call's check comes back when it returns. */
static _Thread_local wait_state *current_wait;

/*
 * Exit. Only daemon threads can still be waiting when the exit hook runs, and once the
 * interpreter finalizes, a thread that asks for the GIL is ended on the spot (or blocks for
 * ever): a check caught there would leave its wait's claim on the lock, which other
 * processes would then take for a writer that died. So the hook notes the thread that runs
 * it (`exit_thread`, set once `exiting`) and lets the GIL go until no blocking call is left
 * in the library (`blocking_calls`, which a forked child counts afresh for the one thread
 * it has); checks in every other thread see the flag and end their waits, which undo their
 * claims, and those threads then park for good without the GIL, as the interpreter would
 * have stopped them anyway; so do calls such a thread begins later. The exiting thread's
 * own calls after the hook (an exit handler registered before the module was imported runs
 * after its hook, and so do __del__ methods at shutdown) are left to finish as any other:
 * parking that thread would hang the exit for good.
 */
static int exiting;
static unsigned long exit_thread;
static int blocking_calls;
static unsigned long gil_checks; /* checks that took the GIL, for the tests (_gil_checks) */

#define CHECK_GIL_NS 5000000 /* the main thread's checks take the GIL this far apart */

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int wait_check(void *arg)
{
    wait_state *w = arg;
    if (__atomic_load_n(&exiting, __ATOMIC_ACQUIRE) &&
        w->thread != __atomic_load_n(&exit_thread, __ATOMIC_RELAXED)) {
        w->abandoned = 1;
        return -ECANCELED;
    }
    /* The Segment's handle pointer is cleared by close() under the GIL. */
    int closed = w->owner && !__atomic_load_n(&w->owner->seg, __ATOMIC_ACQUIRE);
    if (!closed && !w->main_thread)
        return 0;
    if (!closed) {
        int64_t now = mono_ns();
        if (now - w->signals_checked < CHECK_GIL_NS)
            return 0;
        w->signals_checked = now;
    }
    __atomic_add_fetch(&gil_checks, 1, __ATOMIC_RELAXED);
    PyEval_RestoreThread(w->tstate);
    if (__atomic_load_n(&exiting, __ATOMIC_ACQUIRE) &&
        w->thread != __atomic_load_n(&exit_thread, __ATOMIC_RELAXED)) {
        w->abandoned = 1;
    } else if (PyErr_CheckSignals() < 0) {
        w->raised = 1;
    } else if (w->owner && !w->owner->seg) {
        PyErr_Format(PyExc_ValueError, "segment %R was closed while waiting",
                     w->owner->name);
        w->raised = 1;
    }
    w->tstate = PyEval_SaveThread();
    return w->abandoned ? -ECANCELED : w->raised ? -EINTR : 0;
}

/*
 * The thread that runs Python's signal handlers: the main thread of the main interpreter.
 * Its id is read from threading.main_thread() at import (the module may be imported from
 * any thread), and a forked child's only thread becomes it, as the interpreter makes it.
 */
static unsigned long main_thread_id;

static int runs_signal_handlers(void)
{
    return PyThread_get_thread_ident() == main_thread_id &&
           PyInterpreterState_Get() == PyInterpreterState_Main();
}

static int find_main_thread(void)
{
    PyObject *threading = PyImport_ImportModule("threading");
    PyObject *main = threading ? PyObject_CallMethod(threading, "main_thread", NULL) : NULL;
    PyObject *ident = main ? PyObject_GetAttrString(main, "ident") : NULL;
    if (ident)
        main_thread_id = PyLong_AsUnsignedLong(ident);
    Py_XDECREF(ident);
    Py_XDECREF(main);
    Py_XDECREF(threading);
    return ident && !PyErr_Occurred() ? 0 : -1;
}

/*
 * Run @p call with the GIL released and the wait check set. Returns the library's code,
 * or BLOCKING_PYERR with a Python exception set: a signal handler raised, or @p owner (may
 * be NULL) was closed meanwhile.
 */
static int blocking(blocking_call call, void *ctx, double timeout, SegmentObject *owner)
{
    wait_state w = {NULL, owner, runs_signal_handlers(), 0, 0, 0, current_wait,
                    PyThread_get_thread_ident()};
    if (timeout != 0) {
        current_wait = &w;
        shmap_set_wait_check(wait_check, &w);
    }
    __atomic_add_fetch(&blocking_calls, 1, __ATOMIC_SEQ_CST);
    w.tstate = PyEval_SaveThread();
    int rc = call(ctx, timeout);
    if (w.abandoned) {
        __atomic_sub_fetch(&blocking_calls, 1, __ATOMIC_SEQ_CST);
        for (;;)
            pause();
    }
    PyEval_RestoreThread(w.tstate);
    __atomic_sub_fetch(&blocking_calls, 1, __ATOMIC_SEQ_CST);
    if (timeout != 0) {
        current_wait = w.outer;
        shmap_set_wait_check(w.outer ? wait_check : NULL, w.outer);
    }
    return w.raised ? BLOCKING_PYERR : rc;
}

/* This process's pid, asked of the kernel once (getpid() is a system call each time): a
 * forked child forgets it (after_fork_child), so the cache is used only once that handler
 * is registered. */
static int atfork_registered;
static pid_t cached_pid;

static pid_t this_pid(void)
{
    pid_t pid = __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);
    if (pid)
        return pid;
    pid = getpid();
    if (__atomic_load_n(&atfork_registered, __ATOMIC_RELAXED))
        __atomic_store_n(&cached_pid, pid, __ATOMIC_RELAXED);
    return pid;
}

/* A forked child has another pid, and only the thread that forked: its count of waits is
 * that thread's calls (a signal handler run inside a wait may fork), not those of the
 * parent's other threads. */
static void after_fork_child(void)
{
    __atomic_store_n(&cached_pid, 0, __ATOMIC_RELAXED);
    main_thread_id = PyThread_get_thread_ident();
    int n = 0;
    for (wait_state *w = current_wait; w; w = w->outer)
        n++;
    __atomic_store_n(&blocking_calls, n, __ATOMIC_SEQ_CST);
}

/* For the exit hook: end the waits of the threads still in the library (see above), for a
 * second at most. */
static void abandon_waits(void)
{
    __atomic_store_n(&exit_thread, PyThread_get_thread_ident(), __ATOMIC_RELAXED);
    __atomic_store_n(&exiting, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 200 && __atomic_load_n(&blocking_calls, __ATOMIC_SEQ_CST) > 0; i++) {
        Py_BEGIN_ALLOW_THREADS
        struct timespec ms5 = {0, 5000000};
        nanosleep(&ms5, NULL);
        Py_END_ALLOW_THREADS
    }
}

/* A reference of its own for an array or a blocking call, on the exit hook's list; 0 or
 * raised (-1). */
static int borrow(SegmentObject *self, ref_node *node)
{
    node->view_of = 0;
    int rc = shmap_dup(&node->seg, self->seg);
    if (rc < 0) {
        node->seg = NULL;
        /* Not raise_seg(): gcc then inlines borrow() into seg_wait(), and -Wdangling-pointer
         * flags its local node on the exit hook's list (unborrow() takes it off again). */
        raise_lib(rc, seg_cname(self));
        return -1;
    }
    refs_add(node);
    return 0;
}

/* Raise TimeoutError for a blocking call that ran out of time: "NAME: timed out after T s
 * waiting for WHAT[: HOLDERS]", with the holders when there are some. */
static PyObject *raise_timeout(const char *name, double timeout, const char *what,
                               const char *holders)
{
    char msg[SHMAP_NAME_MAX + 1024];
    snprintf(msg, sizeof msg, "%s: timed out after %g s waiting for %s%s%s", name, timeout,
             what, holders && *holders ? ": " : "", holders ? holders : "");
    return raise_text(PyExc_TimeoutError, -ETIMEDOUT, name, msg);
}

/*
 * Wrap a new handle; on failure the handle is closed (destroying what create made). @p descr
 * (stolen; may be NULL) is the element type of a raw mapping, which the library describes
 * without a record's field list; described segments get theirs from the header.
 */
static PyObject *segment_wrap(shmap_seg *seg, PyArray_Descr *descr)
{
    shmap_info *info = PyMem_Malloc(sizeof *info);
    if (!info) {
        Py_XDECREF(descr);
        close_handle(seg, 0);
        return PyErr_NoMemory();
    }
    int rc = shmap_info_at_open(seg, info); /* touches no page of the segment */
    if (rc < 0) {
        Py_XDECREF(descr);
        raise_lib(rc, NULL);
        PyMem_Free(info);
        close_handle(seg, 0);
        return NULL;
    }
    SegmentObject *self = PyObject_New(SegmentObject, &Segment_Type);
    if (!self) {
        Py_XDECREF(descr);
        PyMem_Free(info);
        close_handle(seg, 0);
        return NULL;
    }
    self->seg = seg;
    self->descr = descr;
    self->name = NULL;
    self->cname = NULL;
    self->shape = NULL;
    self->format = NULL;
    self->weakrefs = NULL;
    self->serial = ++segment_serials;
    self->writable = shmap_writable(seg);
    self->raw = info->version == 0;
    self->ring = (info->flags & SHMAP_SEG_RING) != 0;
    self->priv = 0;
    self->held = 0;
    self->held_pid = 0;
    self->fd = -1;
    self->created = shmap_created(seg) != 0; /* fixed for the mapping's life */
    self->created_pid = this_pid();
    self->offset = info->data_offset;
    /* The generation when this handle was made, which shmap_info_at_open() reads even for
     * an open that shares a mapping an earlier one made: frames published before are not
     * new to it. */
    self->seen = self->raw ? 0 : info->generation;
    self->elsize = (Py_ssize_t)info->elsize;
    self->nbytes = (Py_ssize_t)info->data_size;
    self->ndim = (int)info->ndim;
    segments_add(self);
    self->name = name_to_py(info->name);
    self->cname = PyBytes_FromString(info->name);
    if (!self->name || !self->cname || (!self->descr && !(self->descr = descr_of_info(info))) ||
        !(self->shape = PyTuple_New(self->ndim)))
        goto fail;
    if ((size_t)PyDataType_ELSIZE(self->descr) != info->elsize) {
        raise_fmt(Error, SHMAP_ECORRUPT, "%U: element type %R is not %zu bytes", self->name,
                  (PyObject *)self->descr, info->elsize);
        goto fail;
    }
    npy_intp stride = self->elsize;
    for (int i = self->ndim - 1; i >= 0; i--) {
        if (info->dims[i] > (uint64_t)NPY_MAX_INTP) {
            raise_fmt(Error, SHMAP_ECORRUPT, "%U: dimension %llu is too large for numpy",
                      self->name, (unsigned long long)info->dims[i]);
            goto fail;
        }
        self->dims[i] = (npy_intp)info->dims[i];
        self->strides[i] = stride;
        stride *= self->dims[i];
        PyObject *d = PyLong_FromUnsignedLongLong(info->dims[i]);
        if (!d)
            goto fail;
        PyTuple_SET_ITEM(self->shape, i, d);
    }
    PyMem_Free(info);
    return (PyObject *)self;
fail:
    PyMem_Free(info);
    Py_DECREF(self); /* closes the handle */
    return NULL;
}

/* Let go of the handle: 0, or the library's code. The Segment reads as closed from here. */
static int segment_release(SegmentObject *self, int unmap)
{
    shmap_seg *seg = self->seg;
    if (!seg)
        return 0;
    __atomic_store_n(&self->seg, NULL, __ATOMIC_RELEASE); /* wait checks read it without the GIL */
    segments_remove(self);
    if (self->fd >= 0) {
        close(self->fd);
        self->fd = -1;
    }
    return close_handle(seg, unmap);
}

static void segment_dealloc(PyObject *obj)
{
    SegmentObject *self = (SegmentObject *)obj;
    if (self->weakrefs)
        PyObject_ClearWeakRefs(obj);
    segment_release(self, 0);
    Py_XDECREF(self->name);
    Py_XDECREF(self->cname);
    Py_XDECREF(self->descr);
    Py_XDECREF(self->shape);
    free(self->format);
    Py_TYPE(obj)->tp_free(obj);
}

/* Does this Segment hold the segment's lock since it was opened (hold=True)? Only in the
 * process that opened it, while it is open. */
static int segment_holds(const SegmentObject *self)
{
    return self->seg && self->held && self->held_pid == this_pid();
}

static PyObject *segment_repr(PyObject *obj)
{
    SegmentObject *self = (SegmentObject *)obj;
    if (!self->seg)
        return PyUnicode_FromFormat("<shmap.Segment %R closed>", self->name);
    return PyUnicode_FromFormat("<shmap.Segment %R dtype=%R shape=%R %s%s%s>", self->name,
                                (PyObject *)self->descr, self->shape,
                                self->priv       ? "private"
                                : self->writable ? "read-write"
                                                 : "read-only",
                                self->raw ? " raw" : "", segment_holds(self) ? " held" : "");
}

/*
 * An ndarray over @p data, in the mapping behind the Segment, holding a reference of its own
 * (a _MapRef as its base): the whole array, or one frame of it.
 */
static PyObject *segment_view(SegmentObject *self, void *data, int ndim, const npy_intp *dims,
                              const npy_intp *strides)
{
    MapRefObject *ref = PyObject_New(MapRefObject, &MapRef_Type);
    if (!ref)
        return NULL;
    if (borrow(self, &ref->node) < 0) {
        Py_DECREF(ref);
        return NULL;
    }
    ref->node.view_of = self->serial;
    Py_INCREF(self->descr); /* stolen by PyArray_NewFromDescr */
    PyObject *arr = PyArray_NewFromDescr(&PyArray_Type, self->descr, ndim, (npy_intp *)dims,
                                         (npy_intp *)strides, data,
                                         self->writable ? NPY_ARRAY_WRITEABLE : 0, NULL);
    if (!arr) {
        Py_DECREF(ref);
        return NULL;
    }
    /* The array holds the reference from here (stolen, even on failure). */
    if (PyArray_SetBaseObject((PyArrayObject *)arr, (PyObject *)ref) < 0) {
        Py_DECREF(arr);
        return NULL;
    }
    return arr;
}

static PyObject *seg_get_array(PyObject *obj, void *closure)
{
    (void)closure;
    SegmentObject *self = (SegmentObject *)obj;
    if (check_open(self) < 0)
        return NULL;
    return segment_view(self, shmap_data(self->seg), self->ndim, self->dims, self->strides);
}

/*
 * numpy.asarray(seg) takes the buffer; of a closed Segment, whose buffer export fails, numpy
 * would make an object array holding the Segment instead, without a word. __array__ is
 * what it asks next: it raises, as .array does, and otherwise gives .array (cast to
 * @p dtype, or copied, when asked).
 */
static PyObject *seg_array_protocol(PyObject *obj, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"dtype", "copy", NULL};
    PyObject *dtype = Py_None, *copy = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OO:__array__", kwlist, &dtype, &copy))
        return NULL;
    int want_copy = copy == Py_None ? 0 : PyObject_IsTrue(copy);
    if (want_copy < 0)
        return NULL;
    PyObject *arr = seg_get_array(obj, NULL);
    if (!arr || (dtype == Py_None && !want_copy))
        return arr;
    /* copy=False is numpy's "never copy": another dtype cannot be given without one. */
    int same = dtype == Py_None ? 1
                                : PyObject_RichCompareBool(
                                      (PyObject *)PyArray_DESCR((PyArrayObject *)arr), dtype,
                                      Py_EQ);
    if (same < 0 || (copy == Py_False && !same)) {
        if (same >= 0)
            PyErr_Format(PyExc_ValueError, "__array__: dtype %R needs a copy, and copy=False "
                                           "forbids one", dtype);
        Py_DECREF(arr);
        return NULL;
    }
    if (same && !want_copy)
        return arr;
    PyObject *to = dtype == Py_None ? (PyObject *)PyArray_DESCR((PyArrayObject *)arr) : dtype;
    PyObject *astype = PyObject_GetAttrString(arr, "astype");
    PyObject *pos = astype ? PyTuple_Pack(1, to) : NULL;
    PyObject *kw = pos ? Py_BuildValue("{s:O}", "copy", want_copy ? Py_True : Py_False) : NULL;
    PyObject *res = kw ? PyObject_Call(astype, pos, kw) : NULL;
    Py_XDECREF(kw);
    Py_XDECREF(pos);
    Py_XDECREF(astype);
    Py_DECREF(arr);
    return res;
}

static PyObject *seg_get_readonly(PyObject *obj, void *closure)
{
    (void)closure;
    return PyBool_FromLong(!((SegmentObject *)obj)->writable);
}

static PyObject *seg_get_closed(PyObject *obj, void *closure)
{
    (void)closure;
    return PyBool_FromLong(((SegmentObject *)obj)->seg == NULL);
}

static PyObject *seg_get_held(PyObject *obj, void *closure)
{
    (void)closure;
    return PyBool_FromLong(segment_holds((SegmentObject *)obj));
}

static PyObject *seg_get_store(PyObject *obj, void *closure)
{
    (void)closure;
    SegmentObject *self = (SegmentObject *)obj;
    shmap_info *info;
    if (check_open(self) < 0)
        return NULL;
    if (!(info = PyMem_Malloc(sizeof *info)))
        return PyErr_NoMemory();
    int rc = shmap_info_at_open(self->seg, info);
    PyObject *res = rc < 0 ? raise_lib(rc, NULL)
                           : PyUnicode_FromString(shmap_store_name(info->store));
    PyMem_Free(info);
    return res;
}

static PyObject *seg_get_os_handle(PyObject *obj, void *closure)
{
    (void)closure;
    SegmentObject *self = (SegmentObject *)obj;
    char buf[SHMAP_NAME_MAX];
    if (check_open(self) < 0)
        return NULL;
    int rc = shmap_os_handle(self->seg, buf, sizeof buf);
    if (rc < 0)
        return raise_seg(self, rc);
    return name_to_py(buf);
}

static PyObject *UnsupportedOperation; /* io.UnsupportedOperation */

/* The store of an open handle, in words, for messages. */
static const char *store_words(shmap_store store)
{
    switch (store) {
    case SHMAP_STORE_POSIX: return "POSIX shared-memory";
    case SHMAP_STORE_SYSV: return "System V";
    case SHMAP_STORE_FILE: return "file";
    case SHMAP_STORE_MEMFD: return "memfd";
    }
    return "?";
}

/*
 * A Segment made from descriptor @p fd (open_fd(), or a dup() of such a Segment) whose
 * mapping keeps no descriptor keeps a duplicate of @p fd, for fileno(): open_fd() of a file
 * this process maps by name already returns another reference to that mapping, made by
 * name. 0, or -1 with OSError.
 */
static int keep_descriptor(SegmentObject *self, int fd)
{
    if (shmap_fd(self->seg) >= 0)
        return 0;
    self->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (self->fd < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return 0;
}

/*
 * fileno(): the descriptor of a memfd segment (or one opened with open_fd()), which belongs
 * to the mapping, or the Segment's own duplicate (keep_descriptor()). Other stores keep
 * none: io.UnsupportedOperation, what a file object without a descriptor raises, so code
 * that probes fileno() works the same here.
 */
static PyObject *seg_fileno(PyObject *obj, PyObject *unused)
{
    (void)unused;
    SegmentObject *self = (SegmentObject *)obj;
    if (check_open(self) < 0)
        return NULL;
    int fd = shmap_fd(self->seg);
    if (fd >= 0)
        return PyLong_FromLong(fd);
    if (self->fd >= 0)
        return PyLong_FromLong(self->fd);
    if (fd != SHMAP_ESTORE)
        return raise_seg(self, fd);
    shmap_info *info = PyMem_Malloc(sizeof *info);
    if (!info)
        return PyErr_NoMemory();
    int rc = shmap_info_at_open(self->seg, info);
    const char *name = seg_cname(self);
    char msg[SHMAP_NAME_MAX + 256];
    if (rc == 0)
        snprintf(msg, sizeof msg, "%s: this %s segment keeps no file descriptor: only memfd "
                 "segments (create('memfd:', ...)) and those opened with shmap.open_fd() have "
                 "one", name, store_words(info->store));
    PyMem_Free(info);
    if (rc < 0)
        return raise_seg(self, rc);
    return raise_text(UnsupportedOperation, fd, name, msg);
}

/* Refuse what a raw mapping cannot do, as the library does (SHMAP_ERAW). */
static PyObject *raise_raw(SegmentObject *self, const char *what)
{
    char msg[256];
    const char *name = seg_cname(self);
    snprintf(msg, sizeof msg, "%.100s: raw mapping has no header: %s needs a described segment",
             name, what);
    return raise_text(NULL, SHMAP_ERAW, name, msg);
}

static PyObject *seg_get_generation(PyObject *obj, void *closure)
{
    (void)closure;
    SegmentObject *self = (SegmentObject *)obj;
    if (check_open(self) < 0)
        return NULL;
    if (self->raw)
        return raise_raw(self, "generation");
    return PyLong_FromUnsignedLongLong(shmap_generation(self->seg));
}

static PyObject *seg_get_info(PyObject *obj, void *closure)
{
    (void)closure;
    SegmentObject *self = (SegmentObject *)obj;
    if (check_open(self) < 0)
        return NULL;
    shmap_info *info = PyMem_Malloc(sizeof *info);
    if (!info)
        return PyErr_NoMemory();
    if (self->raw) {
        int rc = shmap_info_get(self->seg, info);
        PyObject *res = rc < 0 ? raise_seg(self, rc)
                               : raw_info_dict(info, self->priv, self->descr);
        PyMem_Free(info);
        return res;
    }
    shmap_keyword *kw = NULL;
    shmap_attacher *att = NULL;
    shmap_lockinfo li;
    PyObject *res = NULL;
    mapped_set mapped = MAPPED_SET_INIT;
    /* Reading /proc takes a while, and the keywords up to a second when a keyword writer
     * is stopped in the middle of a change: the GIL goes, and another thread may close the
     * Segment meanwhile, so the calls use a reference of its own. */
    ref_node node;
    int rc = 0, nkw = 0, natt = 0;
    if (borrow(self, &node) == 0) {
        shmap_seg *seg = node.seg;
        Py_BEGIN_ALLOW_THREADS
        if ((rc = shmap_info_get(seg, info)) == 0 &&
            (rc = nkw = shmap_keyword_list_alloc(seg, &kw)) >= 0 &&
            (rc = natt = shmap_attached_alloc(seg, &att)) >= 0 &&
            (rc = shmap_lock_info(seg, &li)) == 0)
            mapped_find(seg, &mapped);
        Py_END_ALLOW_THREADS
        if (rc < 0)
            raise_seg(self, rc); /* before unborrow(), whose close may say something else */
        else
            res = info_dict(info, kw, nkw, att, natt, &li, &mapped, NULL);
        unborrow(&node);
    }
    free(mapped.list);
    free(att);
    free(kw);
    PyMem_Free(info);
    return res;
}

static PyObject *seg_get_seen(PyObject *obj, void *closure)
{
    (void)closure;
    return PyLong_FromUnsignedLongLong(((SegmentObject *)obj)->seen);
}

static int seg_set_seen(PyObject *obj, PyObject *value, void *closure)
{
    (void)closure;
    if (!value) {
        PyErr_SetString(PyExc_AttributeError, "seen cannot be deleted");
        return -1;
    }
    PyObject *index = PyNumber_Index(value);
    if (!index)
        return -1;
    unsigned long long v = PyLong_AsUnsignedLongLong(index);
    Py_DECREF(index);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "seen must be a generation, 0 to 2**64-1, not %R",
                         value);
        }
        return -1;
    }
    ((SegmentObject *)obj)->seen = v;
    return 0;
}

static PyObject *seg_get_attached(PyObject *obj, void *closure)
{
    (void)closure;
    SegmentObject *self = (SegmentObject *)obj;
    if (check_open(self) < 0)
        return NULL;
    shmap_attacher *att;
    int n = shmap_attached_alloc(self->seg, &att);
    if (n < 0)
        return raise_seg(self, n);
    PyObject *res = attached_list(att, n);
    free(att);
    return res;
}

static PyObject *pid_or_none(pid_t pid)
{
    if (pid <= 0)
        Py_RETURN_NONE;
    return PyLong_FromLong((long)pid);
}

/* The lock state, a snapshot: 0 or raised (-1). */
static int lock_state(SegmentObject *self, shmap_lockinfo *li)
{
    if (check_open(self) < 0)
        return -1;
    int rc = shmap_lock_info(self->seg, li);
    if (rc < 0) {
        raise_seg(self, rc);
        return -1;
    }
    return 0;
}

static PyObject *seg_get_lock_info(PyObject *obj, void *closure)
{
    (void)closure;
    shmap_lockinfo li;
    if (lock_state((SegmentObject *)obj, &li) < 0)
        return NULL;
    return lockinfo_dict(&li);
}

/* Room for the longest sentence shmap_lock_holders() makes: every attach slot a shared
 * holder in another pid namespace, each with the note on why it cannot be checked. */
#define HOLDERS_TEXT_MAX 32768

/* lock_holders(): the library's sentence on who holds the lock, read now. */
static PyObject *seg_lock_holders(PyObject *obj, PyObject *unused)
{
    (void)unused;
    SegmentObject *self = (SegmentObject *)obj;
    if (check_open(self) < 0)
        return NULL;
    if (self->raw)
        return raise_raw(self, "lock_holders()");
    char *buf = PyMem_Malloc(HOLDERS_TEXT_MAX);
    if (!buf)
        return PyErr_NoMemory();
    int rc = shmap_lock_holders(self->seg, buf, HOLDERS_TEXT_MAX);
    PyObject *res = rc < 0 ? raise_seg(self, rc) : PyUnicode_DecodeFSDefault(buf);
    PyMem_Free(buf);
    return res;
}

static PyObject *seg_get_locked(PyObject *obj, void *closure)
{
    (void)closure;
    shmap_lockinfo li;
    if (lock_state((SegmentObject *)obj, &li) < 0)
        return NULL;
    return PyBool_FromLong(li.writer > 0 || li.shared > 0);
}

typedef struct {
    PyObject_HEAD
    SegmentObject *segment;
} KeywordsObject;

static PyObject *seg_get_keywords(PyObject *obj, void *closure)
{
    (void)closure;
    KeywordsObject *kw = PyObject_New(KeywordsObject, &Keywords_Type);
    if (!kw)
        return NULL;
    kw->segment = (SegmentObject *)Py_NewRef(obj);
    return (PyObject *)kw;
}

static PyObject *seg_publish(PyObject *obj, PyObject *unused)
{
    (void)unused;
    SegmentObject *self = (SegmentObject *)obj;
    if (check_open(self) < 0)
        return NULL;
    int rc = shmap_publish(self->seg);
    if (rc < 0)
        return raise_seg(self, rc);
    Py_RETURN_NONE;
}

static PyObject *seg_write_abort(PyObject *obj, PyObject *unused)
{
    (void)unused;
    SegmentObject *self = (SegmentObject *)obj;
    if (check_open(self) < 0)
        return NULL;
    int rc = shmap_write_abort(self->seg);
    if (rc < 0)
        return raise_seg(self, rc);
    Py_RETURN_NONE;
}

/* The library's detail for @p rc, copied before other calls may replace it. */
static void detail_copy(int rc, char *buf, size_t size)
{
    const char *detail = shmap_last_error();
    snprintf(buf, size, "%s", detail && *detail ? detail : shmap_strerror(rc));
}

/* ---------------------------------------------------------------------------------------- */
/* Lock: a shared or exclusive lock held through a reference of its own. */

/*
 * The library lets a handle hold one lock, and lets threads share a segment through separate
 * handles. So each Lock takes its own reference (shmap_dup): two threads may hold shared
 * locks through one Segment, a Lock outlives the Segment's close(), and releasing it never
 * races the Segment's handle.
 *
 * That hides from the library a thread that locks one Segment twice, which the library
 * refuses on one handle (-EDEADLK): the second lock would wait for the first, held by the
 * thread that waits. So the held Locks are listed with the thread and the Segment that took
 * them, and Segment.lock() refuses what its thread holds already (lock_of_this_thread()).
 * The thread is named by its thread state's id, which the interpreter never gives again,
 * so a Lock left held by a thread that ended belongs to no thread that asks.
 */
typedef struct {
    PyObject_HEAD
    ref_node node;        /* the reference that holds the lock; NULL once released */
    PyObject *name;       /* the segment's name */
    PyObject *cname;      /* the same, as the library has it (bytes) */
    char exclusive;       /* char: a T_BOOL member */
    int held;             /* the lock was taken through node.seg */
    pid_t pid;            /* the process that took it: a forked child holds nothing */
    PyObject *owner_died; /* pid of the writer that died holding the lock, or None */
    uint64_t thread;      /* PyThreadState_GetID() of the thread that took it */
    uint64_t segment;     /* serial of the Segment it was taken through */
    list_link held_link;  /* in locks_head while held */
} LockObject;

static PyTypeObject Lock_Type;
static list_link *locks_head; /* the held Locks (under the GIL) */

static uint64_t this_thread(void)
{
    return PyThreadState_GetID(PyThreadState_Get());
}

/* The Lock this thread holds through @p seg in this process, or NULL. */
static const LockObject *lock_of_this_thread(const SegmentObject *seg)
{
    uint64_t me = this_thread();
    pid_t pid = this_pid();
    for (list_link *l = locks_head; l; l = l->next) {
        const LockObject *lk = LIST_ENTRY(l, LockObject, held_link);
        if (lk->segment == seg->serial && lk->thread == me && lk->pid == pid && lk->held)
            return lk;
    }
    return NULL;
}

/* Unlock (in the process that locked; as if process `died` had died holding it, if > 0)
 * and drop the reference: 0 or the library's code. */
static int lock_release(LockObject *self, pid_t died)
{
    shmap_seg *seg = self->node.seg;
    if (!seg)
        return 0;
    int rc = 0;
    if (self->held && self->pid == this_pid())
        rc = died > 0 ? shmap_unlock_died(seg, died) : shmap_unlock(seg);
    self->held = 0;
    list_remove(&locks_head, &self->held_link);
    self->node.seg = NULL;
    refs_remove(&self->node);
    int rc2 = close_handle(seg, 0);
    return rc < 0 ? rc : rc2;
}

static void lock_dealloc(PyObject *obj)
{
    LockObject *self = (LockObject *)obj;
    lock_release(self, 0);
    Py_XDECREF(self->name);
    Py_XDECREF(self->cname);
    Py_XDECREF(self->owner_died);
    Py_TYPE(obj)->tp_free(obj);
}

static PyObject *lock_repr(PyObject *obj)
{
    LockObject *self = (LockObject *)obj;
    /* As held says: in a forked child the lock is the parent's. */
    const char *state = !self->node.seg || !self->held ? "released"
                        : self->pid == this_pid()      ? "held"
                                                       : "not held (the parent's)";
    return PyUnicode_FromFormat("<shmap.Lock %s on %R %s>",
                                self->exclusive ? "exclusive" : "shared", self->name, state);
}

/* release(writer_died=...)'s pid: > 0, or 0 with an exception set. Only an exclusive lock
 * this process holds can pass on a death: the news would otherwise be lost unsaid. */
static pid_t lock_died_pid(LockObject *self, PyObject *obj)
{
    if (!PyIndex_Check(obj) || PyBool_Check(obj) || PyArray_IsScalar(obj, Bool)) {
        PyErr_Format(PyExc_TypeError, "writer_died is the pid of the process that died "
                                      "writing (an int), not %.80s", Py_TYPE(obj)->tp_name);
        return 0;
    }
    PyObject *index = PyNumber_Index(obj);
    if (!index)
        return 0; /* what its __index__ raised */
    long pid = PyLong_AsLong(index);
    Py_DECREF(index);
    if (pid == -1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError))
            return 0;
        PyErr_Clear();
    }
    if (pid <= 0 || pid > INT_MAX) {
        PyErr_Format(PyExc_ValueError, "writer_died=%R is not a process id", obj);
        return 0;
    }
    const char *why = !self->node.seg || !self->held ? "it was released already"
                      : self->pid != this_pid()      ? "it is the parent process's"
                      : !self->exclusive             ? "it is a shared lock, and readers write "
                                                       "nothing"
                                                     : NULL;
    if (why) {
        PyErr_Format(PyExc_ValueError, "the lock on %R cannot record a writer's death: %s",
                     self->name, why);
        return 0;
    }
    return (pid_t)pid;
}

static PyObject *lock_release_method(PyObject *obj, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"writer_died", NULL};
    PyObject *died_obj = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$O:release", kwlist, &died_obj))
        return NULL;
    LockObject *self = (LockObject *)obj;
    pid_t died = 0;
    if (died_obj != Py_None && !(died = lock_died_pid(self, died_obj)))
        return NULL;
    int rc = lock_release(self, died);
    if (rc < 0)
        return raise_lib(rc, PyBytes_AS_STRING(self->cname));
    Py_RETURN_NONE;
}

static PyObject *lock_enter(PyObject *obj, PyObject *unused)
{
    (void)unused;
    LockObject *self = (LockObject *)obj;
    if (!self->node.seg) {
        PyErr_Format(PyExc_ValueError, "the lock on %R was released: take another with "
                                       "Segment.lock()", self->name);
        return NULL;
    }
    return Py_NewRef(obj);
}

static PyObject *lock_exit(PyObject *obj, PyObject *args)
{
    (void)args;
    LockObject *self = (LockObject *)obj;
    int rc = lock_release(self, 0);
    if (rc < 0)
        return raise_lib(rc, PyBytes_AS_STRING(self->cname));
    Py_RETURN_FALSE;
}

static PyObject *lock_get_held(PyObject *obj, void *closure)
{
    (void)closure;
    LockObject *self = (LockObject *)obj;
    return PyBool_FromLong(self->node.seg && self->held && self->pid == this_pid());
}

/* Plain fields, read-only. */
static PyMemberDef lock_members[] = {
    {"exclusive", T_BOOL, offsetof(LockObject, exclusive), READONLY, lock_exclusive_doc},
    {"owner_died", T_OBJECT_EX, offsetof(LockObject, owner_died), READONLY,
     lock_owner_died_doc},
    {"name", T_OBJECT_EX, offsetof(LockObject, name), READONLY, lock_name_doc},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef lock_getset[] = {
    {"held", lock_get_held, NULL, lock_held_doc, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef lock_methods[] = {
    {"release", (PyCFunction)(void (*)(void))lock_release_method, METH_VARARGS | METH_KEYWORDS,
     lock_release_doc},
    {"__enter__", lock_enter, METH_NOARGS, lock_enter_doc},
    {"__exit__", lock_exit, METH_VARARGS, lock_exit_doc},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject Lock_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "shmap.Lock",
    .tp_basicsize = sizeof(LockObject),
    .tp_dealloc = lock_dealloc,
    .tp_repr = lock_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = lock_doc,
    .tp_methods = lock_methods,
    .tp_members = lock_members,
    .tp_getset = lock_getset,
};

typedef struct {
    shmap_seg *seg;
    unsigned flags;
} lock_args;

static int lock_call(void *ctx, double timeout_s)
{
    lock_args *a = ctx;
    return shmap_lock(a->seg, a->flags, timeout_s);
}

static PyObject *seg_lock(PyObject *obj, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"exclusive", "timeout", NULL};
    SegmentObject *self = (SegmentObject *)obj;
    PyObject *exclusive_obj = Py_False, *timeout_obj = Py_None;
    double timeout;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OO:lock", kwlist, &exclusive_obj,
                                     &timeout_obj))
        return NULL;
    /* lock(2.0) or lock(5) means a timeout, and would take an exclusive lock that waits for
     * ever; lock('no') would take it too. A bool only (numpy's too). */
    if (!PyBool_Check(exclusive_obj) && !PyArray_IsScalar(exclusive_obj, Bool)) {
        PyErr_Format(PyExc_TypeError, "lock(): exclusive is a bool, not %R (a timeout is "
                                      "given as timeout=)", exclusive_obj);
        return NULL;
    }
    int exclusive = PyObject_IsTrue(exclusive_obj);
    if (exclusive < 0 || timeout_from_py(timeout_obj, &timeout) < 0 || check_open(self) < 0)
        return NULL;
    const char *name = seg_cname(self);
    if (segment_holds(self)) {
        /* Another lock through it would wait for the hold (an exclusive one always, a shared
         * one when a writer queues): refuse, as the library refuses a second lock on a
         * handle. */
        char msg[512];
        snprintf(msg, sizeof msg, "%.300s: opened with hold=True, this Segment holds the %s "
                 "lock until close(): its hold is the lock, and another would wait for it",
                 name, self->writable ? "exclusive" : "shared");
        return raise_text(NULL, -EDEADLK, name, msg);
    }
    const LockObject *mine = lock_of_this_thread(self);
    if (mine) {
        /* Certain deadlocks, refused before any wait: an exclusive lock held lets nothing
         * in; an exclusive lock asked for waits for every shared hold, this one included;
         * and a shared one asked for waits behind any writer that queues meanwhile, while
         * that writer waits for this hold. Other threads' Locks, and this thread's through
         * other Segments, may be released by another thread: those are waited for. */
        const char *why = mine->exclusive ? "another lock would wait for it for ever"
                          : exclusive ? "the exclusive lock would wait for it for ever (there "
                                        "is no upgrade)"
                                      : "a second one would wait for ever behind any writer "
                                        "that queues meanwhile";
        char msg[512];
        snprintf(msg, sizeof msg, "%.300s: this thread already holds the %s lock on this "
                 "Segment: %s; release it first, or pass the Lock held to the code that "
                 "needs it", name, mine->exclusive ? "exclusive" : "shared", why);
        return raise_text(NULL, -EDEADLK, name, msg);
    }
    LockObject *lk = PyObject_New(LockObject, &Lock_Type);
    if (!lk)
        return NULL;
    lk->node.seg = NULL;
    lk->node.link.prev = lk->node.link.next = NULL;
    lk->name = Py_NewRef(self->name);
    lk->cname = Py_NewRef(self->cname);
    lk->exclusive = exclusive;
    lk->held = 0;
    lk->pid = this_pid();
    lk->owner_died = Py_NewRef(Py_None);
    lk->thread = this_thread();
    lk->segment = self->serial;
    lk->held_link.prev = lk->held_link.next = NULL;
    if (borrow(self, &lk->node) < 0) {
        Py_DECREF(lk);
        return NULL;
    }
    lock_args a = {lk->node.seg, exclusive ? SHMAP_LOCK_EXCLUSIVE : SHMAP_LOCK_SHARED};
    int rc = blocking(lock_call, &a, timeout, self);
    if (rc == BLOCKING_PYERR) {
        Py_DECREF(lk);
        return NULL;
    }
    char detail[1024];
    if (rc < 0)
        detail_copy(rc, detail, sizeof detail);
    if (rc < 0 && rc != SHMAP_EOWNERDEAD) {
        const char *what = exclusive ? "the exclusive lock" : "the shared lock";
        char holders[512];
        if (rc == -ETIMEDOUT || rc == -EBUSY)
            shmap_lock_holders(lk->node.seg, holders, sizeof holders);
        if (rc == -ETIMEDOUT) {
            raise_timeout(name, timeout, what, holders);
        } else if (rc == -EBUSY) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s: %s is not free (timeout=0 does not wait)%s%s", name,
                     what, *holders ? ": " : "", holders);
            raise_text(PyExc_BlockingIOError, rc, name, msg);
        } else {
            raise_text(NULL, rc, name, detail);
        }
        Py_DECREF(lk);
        return NULL;
    }
    lk->held = 1;
    list_add(&locks_head, &lk->held_link);
    if (rc == SHMAP_EOWNERDEAD) {
        /* The lock is ours, and the data may be half-written: say so, but do not raise. */
        shmap_lockinfo li;
        pid_t dead = shmap_lock_info(lk->node.seg, &li) == 0 ? li.dead_pid : 0;
        Py_SETREF(lk->owner_died, PyLong_FromLong(dead > 0 ? (long)dead : -1));
        if (!lk->owner_died || PyErr_WarnEx(OwnerDiedWarning, detail, 1) < 0) {
            /* A warning made an error leaves nothing held, and the news for the next
             * writer: this caller repaired nothing. */
            if (shmap_unlock_inconsistent(lk->node.seg) == 0)
                lk->held = 0;
            Py_DECREF(lk);
            return NULL;
        }
    }
    return (PyObject *)lk;
}

/* ---------------------------------------------------------------------------------------- */
/* Waiting for a publish, reading and writing frames */

typedef struct {
    shmap_seg *seg;
    uint64_t seen;
} wait_args;

static int wait_call(void *ctx, double timeout_s)
{
    wait_args *a = ctx;
    return shmap_wait(a->seg, &a->seen, timeout_s);
}

static PyObject *seg_wait(PyObject *obj, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"timeout", NULL};
    SegmentObject *self = (SegmentObject *)obj;
    PyObject *timeout_obj = Py_None;
    double timeout;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:wait", kwlist, &timeout_obj) ||
        timeout_from_py(timeout_obj, &timeout) < 0 || check_open(self) < 0)
        return NULL;
    const char *name = seg_cname(self);
    wait_args a = {self->seg, self->seen};
    /* Something newer already: no need for a reference of our own nor to let go of the GIL. */
    int rc = shmap_wait(self->seg, &a.seen, 0);
    if (rc == -EAGAIN && timeout != 0) {
        ref_node node;
        if (borrow(self, &node) < 0)
            return NULL;
        a.seg = node.seg;
        rc = blocking(wait_call, &a, timeout, self);
        char detail[1024];
        if (rc < 0)
            detail_copy(rc, detail, sizeof detail);
        unborrow(&node);
        if (rc < 0 && rc != -ETIMEDOUT)
            return raise_text(NULL, rc, name, detail);
    }
    if (rc == BLOCKING_PYERR)
        return NULL;
    if (rc == 0) {
        self->seen = a.seen;
        return PyLong_FromUnsignedLongLong(a.seen);
    }
    char what[64];
    snprintf(what, sizeof what, "a generation newer than %llu", (unsigned long long)a.seen);
    if (rc == -ETIMEDOUT)
        return raise_timeout(name, timeout, what, NULL);
    if (rc == -EAGAIN)
        return raise_as(PyExc_BlockingIOError, rc, name);
    return raise_lib(rc, name);
}

static PyTypeObject Frame_Type;

static PyStructSequence_Field frame_fields[] = {
    {"data", frame_data_doc},
    {"number", frame_number_doc},
    {"missed", frame_missed_doc},
    {"torn", frame_torn_doc},
    {NULL, NULL},
};

static PyStructSequence_Desc frame_desc = {"shmap.Frame", frame_doc, frame_fields, 4};

/* The shape of one frame: the array's, less the first dimension for a ring. */
static int frame_ndim(const SegmentObject *self)
{
    return self->ring ? self->ndim - 1 : self->ndim;
}

static const npy_intp *frame_dims(const SegmentObject *self)
{
    return self->ring ? self->dims + 1 : self->dims;
}

typedef struct {
    shmap_seg *seg;
    uint64_t seen;
    uint64_t missed;
    void *dst;
} frame_args;

static int frame_call(void *ctx, double timeout_s)
{
    frame_args *a = ctx;
    return shmap_read_frame(a->seg, &a->seen, a->dst, timeout_s, &a->missed);
}

static PyObject *seg_read_frame(PyObject *obj, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"timeout", NULL};
    SegmentObject *self = (SegmentObject *)obj;
    PyObject *timeout_obj = Py_None;
    double timeout;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:read_frame", kwlist, &timeout_obj) ||
        timeout_from_py(timeout_obj, &timeout) < 0 || check_open(self) < 0)
        return NULL;
    const char *name = seg_cname(self);
    if (self->raw)
        return raise_raw(self, "read_frame");
    Py_INCREF(self->descr); /* stolen */
    PyObject *arr = PyArray_NewFromDescr(&PyArray_Type, self->descr, frame_ndim(self),
                                         (npy_intp *)frame_dims(self), NULL, NULL, 0, NULL);
    if (!arr)
        return NULL;
    Py_ssize_t shape_bytes = (Py_ssize_t)PyArray_NBYTES((PyArrayObject *)arr);
    if ((size_t)shape_bytes != shmap_frame_size(self->seg)) {
        Py_DECREF(arr);
        return raise_fmt(Error, SHMAP_ECORRUPT, "%s: frames are %zu bytes, the shape says %zd",
                         name, shmap_frame_size(self->seg), shape_bytes);
    }
    ref_node node;
    if (borrow(self, &node) < 0) {
        Py_DECREF(arr);
        return NULL;
    }
    frame_args a = {node.seg, self->seen, 0, PyArray_DATA((PyArrayObject *)arr)};
    int rc = blocking(frame_call, &a, timeout, self);
    char detail[1024];
    if (rc < 0)
        detail_copy(rc, detail, sizeof detail);
    unborrow(&node);
    if (rc == BLOCKING_PYERR || (rc < 0 && rc != SHMAP_EOWNERDEAD)) {
        Py_DECREF(arr);
        if (rc == BLOCKING_PYERR)
            return NULL;
        if (rc == -ETIMEDOUT) {
            char what[64];
            snprintf(what, sizeof what, "a frame after %llu", (unsigned long long)a.seen);
            return raise_timeout(name, timeout, what, NULL);
        }
        return raise_text(rc == -EAGAIN ? PyExc_BlockingIOError : NULL, rc, name, detail);
    }
    /* A warning made an error gives nothing: seen stays, and the next call is told again. */
    if (rc == SHMAP_EOWNERDEAD && PyErr_WarnEx(OwnerDiedWarning, detail, 1) < 0) {
        Py_DECREF(arr);
        return NULL;
    }
    self->seen = a.seen;
    PyObject *frame = PyStructSequence_New(&Frame_Type);
    PyObject *number = PyLong_FromUnsignedLongLong(a.seen - 1);
    PyObject *missed = PyLong_FromUnsignedLongLong(a.missed);
    if (!frame || !number || !missed) {
        Py_XDECREF(frame);
        Py_XDECREF(number);
        Py_XDECREF(missed);
        Py_DECREF(arr);
        return NULL;
    }
    PyStructSequence_SET_ITEM(frame, 0, arr);
    PyStructSequence_SET_ITEM(frame, 1, number);
    PyStructSequence_SET_ITEM(frame, 2, missed);
    PyStructSequence_SET_ITEM(frame, 3, PyBool_FromLong(rc == SHMAP_EOWNERDEAD));
    return frame;
}

/* Whether a frame is being written, and by whom: (state, pid or None). Reads /proc for the
 * writer's liveness, as read_frame() does; quick enough to keep the GIL. */
static PyObject *seg_get_write_state(PyObject *obj, void *closure)
{
    (void)closure;
    SegmentObject *self = (SegmentObject *)obj;
    if (check_open(self) < 0)
        return NULL;
    if (self->raw)
        return raise_raw(self, "write_state");
    pid_t writer = 0;
    int rc = shmap_write_state(self->seg, &writer);
    if (rc < 0)
        return raise_seg(self, rc);
    return Py_BuildValue("(sN)", write_state_name(rc),
                         pid_or_none(rc == SHMAP_WRITE_NONE ? 0 : writer));
}

static PyObject *seg_write_begin(PyObject *obj, PyObject *unused)
{
    (void)unused;
    SegmentObject *self = (SegmentObject *)obj;
    if (check_open(self) < 0)
        return NULL;
    void *frame;
    int rc = shmap_write_begin(self->seg, &frame);
    if (rc < 0)
        return raise_seg(self, rc);
    return segment_view(self, frame, frame_ndim(self), frame_dims(self),
                        self->ring ? self->strides + 1 : self->strides);
}

static PyObject *seg_close_common(SegmentObject *self, int unmap)
{
    int rc = segment_release(self, unmap);
    if (rc < 0)
        return raise_seg(self, rc);
    Py_RETURN_NONE;
}

/* Do arrays or buffers taken from @p self still view its mapping? */
static int views_left(const SegmentObject *self)
{
    for (list_link *l = refs_head; l; l = l->next)
        if (LIST_ENTRY(l, ref_node, link)->view_of == self->serial)
            return 1;
    return 0;
}

/*
 * close() is IDL's SHMUNMAP where IDL's case arises, as SPEC asks: arrays or buffers taken
 * from this Segment that still view the mapping keep it alive, and it is unmap-pending (no
 * new opens with its access in this process) until every reference goes. Without them it
 * drops its reference, and other Segments on the mapping (another open(), a dup()) keep
 * theirs with nothing pending: a helper's open() ... close() beside a long-lived Segment
 * must not lock later opens out. unmap(), IDL's name, always marks the mapping pending;
 * __exit__ and the garbage collector's release of a forgotten Segment are plain closes.
 */
static PyObject *seg_close(PyObject *obj, PyObject *unused)
{
    (void)unused;
    SegmentObject *self = (SegmentObject *)obj;
    return seg_close_common(self, self->seg && views_left(self));
}

static PyObject *seg_unmap(PyObject *obj, PyObject *unused)
{
    (void)unused;
    return seg_close_common((SegmentObject *)obj, 1);
}

static PyObject *seg_set_destroy(PyObject *obj, PyObject *arg)
{
    SegmentObject *self = (SegmentObject *)obj;
    int destroy = PyObject_IsTrue(arg);
    if (destroy < 0 || check_open(self) < 0)
        return NULL;
    int rc = shmap_set_destroy(self->seg, destroy);
    if (rc < 0)
        return raise_seg(self, rc);
    Py_RETURN_NONE;
}

static PyObject *seg_finish_create(PyObject *obj, PyObject *unused)
{
    (void)unused;
    SegmentObject *self = (SegmentObject *)obj;
    if (check_open(self) < 0)
        return NULL;
    int rc = shmap_create_finish(self->seg);
    if (rc < 0)
        return raise_seg(self, rc);
    Py_RETURN_NONE;
}

static PyObject *seg_enter(PyObject *obj, PyObject *unused)
{
    (void)unused;
    if (check_open((SegmentObject *)obj) < 0)
        return NULL;
    return Py_NewRef(obj);
}

static PyObject *seg_exit(PyObject *obj, PyObject *args)
{
    (void)args;
    PyObject *res = seg_close_common((SegmentObject *)obj, 0);
    if (!res)
        return NULL;
    Py_DECREF(res);
    Py_RETURN_FALSE;
}

/*
 * dup(): another reference to the same mapping, with its own lock ownership. The library's
 * shmap_dup() works while the mapping is unmap-pending, where opening by name again would
 * not, and for memfd segments, which have no name: so copy.copy() uses it too, rather than
 * __reduce__, which reopens by name. The copy holds no lock, even when this Segment was
 * opened with hold=True; it waits from the same generation (seen) as this one.
 */
static PyObject *seg_dup(PyObject *obj, PyObject *unused)
{
    (void)unused;
    SegmentObject *self = (SegmentObject *)obj;
    if (check_open(self) < 0)
        return NULL;
    shmap_seg *seg;
    int rc = shmap_dup(&seg, self->seg);
    if (rc < 0)
        return raise_seg(self, rc);
    /* The element type goes along: a raw mapping's is not in a header to read it from. */
    Py_INCREF(self->descr);
    SegmentObject *res = (SegmentObject *)segment_wrap(seg, self->descr);
    if (!res)
        return NULL;
    res->priv = self->priv;
    res->seen = self->seen;
    if (self->fd >= 0 && keep_descriptor(res, self->fd) < 0) {
        Py_DECREF(res);
        return NULL;
    }
    return (PyObject *)res;
}

static PyObject *mod_open_obj; /* shmap.open, for pickling */

/*
 * A Segment pickles as the call that opens it again: open(name, readonly), and for raw and
 * private mappings the same through functools.partial(open, dtype=..., shape=..., ...), as
 * their options are keyword-only. A memfd segment has no name to open: it is refused here,
 * where the mistake is made, rather than when the pickle is loaded in another process.
 */
static PyObject *seg_reduce(PyObject *obj, PyObject *unused)
{
    (void)unused;
    SegmentObject *self = (SegmentObject *)obj;
    shmap_store store;
    if (shmap_name_check(seg_cname(self), &store) == 0 && store == SHMAP_STORE_MEMFD)
        return PyErr_Format(PyExc_TypeError,
                            "cannot pickle memfd segment %R: it has no name another process "
                            "could open it by; pass its descriptor instead (seg.fileno(), "
                            "through subprocess's pass_fds, os.fork() or socket.send_fds()) "
                            "and attach it with shmap.open_fd(fd)", self->name);
    /* A closed Segment refuses, as dup() and copy.copy() do: its pickle would open by name
     * whatever holds the name by then. */
    if (check_open(self) < 0)
        return NULL;
    if (!self->raw && !self->priv)
        return Py_BuildValue("O(OO)", mod_open_obj, self->name,
                             self->writable ? Py_False : Py_True);
    PyObject *kw = self->raw ? Py_BuildValue("{s:O,s:O,s:K,s:O}", "dtype", self->descr,
                                             "shape", self->shape, "offset",
                                             (unsigned long long)self->offset, "private",
                                             self->priv ? Py_True : Py_False)
                             : Py_BuildValue("{s:O}", "private", Py_True);
    PyObject *functools = kw ? PyImport_ImportModule("functools") : NULL;
    PyObject *partial = functools ? PyObject_GetAttrString(functools, "partial") : NULL;
    PyObject *fargs = partial ? PyTuple_Pack(1, mod_open_obj) : NULL;
    PyObject *opener = fargs ? PyObject_Call(partial, fargs, kw) : NULL;
    PyObject *res = NULL;
    if (opener && self->priv)
        res = Py_BuildValue("O(O)", opener, self->name);
    else if (opener)
        res = Py_BuildValue("O(OO)", opener, self->name, self->writable ? Py_False : Py_True);
    Py_XDECREF(opener);
    Py_XDECREF(fargs);
    Py_XDECREF(partial);
    Py_XDECREF(functools);
    Py_XDECREF(kw);
    return res;
}

/* The buffer protocol. Each export holds its own library reference, in `internal`. */
typedef struct {
    ref_node node;
    Py_ssize_t shape[SHMAP_MAX_DIMS];
    Py_ssize_t strides[SHMAP_MAX_DIMS];
} export_block;

/*
 * The PEP 3118 format of one element. A plain type is one native code ("d"). A record is
 * "T{...}" with '=' (native byte order, standard sizes, no alignment) before every field's
 * code, so a consumer reads the packed layout rather than a padded one. The '=' goes after
 * a sub-array's count, "(3)=d:pos:", never before it: that is where numpy writes it, and
 * numpy's parser rejects "=(3)d". Writing it on every field, not once, keeps each field's
 * meaning independent of the ones before it. Records hold only native-order simple types
 * (other orders are refused when a segment is opened), so '=' is always right.
 */
static const char *format_code(shmap_dtype dt)
{
    switch (dt) {
    case SHMAP_U8: return "B";
    case SHMAP_I8: return "b";
    case SHMAP_U16: return "H";
    case SHMAP_I16: return "h";
    case SHMAP_U32: return "I";
    case SHMAP_I32: return "i";
    case SHMAP_U64: return "Q";
    case SHMAP_I64: return "q";
    case SHMAP_F16: return "e";
    case SHMAP_F32: return "f";
    case SHMAP_F64: return "d";
    case SHMAP_C64: return "Zf";
    case SHMAP_C128: return "Zd";
    case SHMAP_BOOL: return "?";
    default: return NULL;
    }
}

static int make_format(SegmentObject *self)
{
    PyArray_Descr *d = self->descr;
    PyObject *fmt;
    shmap_dtype dt;
    if (!PyDataType_HASFIELDS(d) && other_order(d)) {
        /* A raw array in the other byte order: its code with that order, "<f" or ">f". */
        PyArray_Descr *native = PyArray_DescrNewByteorder(d, NPY_NATIVE);
        int rc = native ? shmap_type_of_simple(native, NULL, &dt) : -1;
        Py_XDECREF(native);
        if (rc < 0)
            return -1;
        fmt = PyUnicode_FromFormat("%c%s", d->byteorder == '>' ? '>' : '<', format_code(dt));
    } else if (!PyDataType_HASFIELDS(d)) {
        if (shmap_type_of_simple(d, NULL, &dt) < 0)
            return -1;
        fmt = PyUnicode_FromString(format_code(dt));
    } else {
        PyObject *names = PyDataType_NAMES(d);
        fmt = PyUnicode_FromString("T{");
        for (Py_ssize_t i = 0; fmt && i < PyTuple_GET_SIZE(names); i++) {
            PyObject *fname = PyTuple_GET_ITEM(names, i);
            PyObject *spec = PyDict_GetItemWithError(PyDataType_FIELDS(d), fname);
            PyArray_Descr *fd = spec ? (PyArray_Descr *)PyTuple_GET_ITEM(spec, 0) : NULL;
            PyObject *part = NULL;
            if (fd && PyDataType_SUBARRAY(fd)) {
                PyObject *shape = PyDataType_SUBARRAY(fd)->shape;
                if (shmap_type_of_simple(PyDataType_SUBARRAY(fd)->base, NULL, &dt) == 0)
                    part = PyUnicode_FromFormat("(%S)=%s:%U:", PyTuple_GET_ITEM(shape, 0),
                                                format_code(dt), fname);
            } else if (fd && shmap_type_of_simple(fd, NULL, &dt) == 0) {
                part = PyUnicode_FromFormat("=%s:%U:", format_code(dt), fname);
            }
            Py_SETREF(fmt, part ? PyUnicode_Concat(fmt, part) : NULL);
            Py_XDECREF(part);
        }
        if (fmt)
            Py_SETREF(fmt, PyUnicode_FromFormat("%U}", fmt));
    }
    if (!fmt)
        return -1;
    const char *text = PyUnicode_AsUTF8(fmt);
    self->format = text ? strdup(text) : NULL;
    Py_DECREF(fmt);
    if (!self->format) {
        if (text)
            PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static int seg_getbuffer(PyObject *obj, Py_buffer *view, int flags)
{
    SegmentObject *self = (SegmentObject *)obj;
    view->obj = NULL;
    if (check_open(self) < 0)
        return -1;
    if ((flags & PyBUF_WRITABLE) == PyBUF_WRITABLE && !self->writable) {
        PyErr_Format(PyExc_BufferError, "segment %R is open read-only", self->name);
        return -1;
    }
    int fortran = 1;
    for (int i = 0, big = 0; i < self->ndim; i++)
        if (self->dims[i] > 1 && big++)
            fortran = 0;
    if ((flags & PyBUF_F_CONTIGUOUS) == PyBUF_F_CONTIGUOUS && !fortran) {
        PyErr_Format(PyExc_BufferError, "segment %R is C-contiguous, not Fortran-contiguous",
                     self->name);
        return -1;
    }
    if ((flags & PyBUF_FORMAT) == PyBUF_FORMAT && !self->format && make_format(self) < 0)
        return -1;
    export_block *b = PyMem_Malloc(sizeof *b);
    if (!b) {
        PyErr_NoMemory();
        return -1;
    }
    int rc = shmap_dup(&b->node.seg, self->seg);
    if (rc < 0) {
        PyMem_Free(b);
        raise_lib(rc, seg_cname(self)); /* its -ENOMEM: MemoryError, as PyMem_Malloc's */
        return -1;
    }
    b->node.view_of = self->serial;
    refs_add(&b->node);
    for (int i = 0; i < self->ndim; i++) {
        b->shape[i] = self->dims[i];
        b->strides[i] = self->strides[i];
    }
    view->buf = shmap_data(b->node.seg);
    view->obj = Py_NewRef(obj);
    view->len = self->nbytes;
    view->readonly = !self->writable;
    view->itemsize = self->elsize;
    view->format = (flags & PyBUF_FORMAT) == PyBUF_FORMAT ? self->format : NULL;
    view->ndim = (flags & PyBUF_ND) == PyBUF_ND ? self->ndim : 1;
    view->shape = (flags & PyBUF_ND) == PyBUF_ND ? b->shape : NULL;
    view->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ? b->strides : NULL;
    view->suboffsets = NULL;
    view->internal = b;
    return 0;
}

static void seg_releasebuffer(PyObject *obj, Py_buffer *view)
{
    (void)obj;
    export_block *b = view->internal;
    if (!b)
        return;
    unborrow(&b->node);
    PyMem_Free(b);
    view->internal = NULL;
}

static PyBufferProcs segment_as_buffer = {
    .bf_getbuffer = seg_getbuffer,
    .bf_releasebuffer = seg_releasebuffer,
};

/* Plain fields, read-only. */
_Static_assert(sizeof(uint64_t) == sizeof(unsigned long long), "offset is a T_ULONGLONG");
static PyMemberDef segment_members[] = {
    {"name", T_OBJECT_EX, offsetof(SegmentObject, name), READONLY, segment_name_doc},
    {"dtype", T_OBJECT_EX, offsetof(SegmentObject, descr), READONLY, segment_dtype_doc},
    {"shape", T_OBJECT_EX, offsetof(SegmentObject, shape), READONLY, segment_shape_doc},
    {"ndim", T_INT, offsetof(SegmentObject, ndim), READONLY, segment_ndim_doc},
    {"nbytes", T_PYSSIZET, offsetof(SegmentObject, nbytes), READONLY, segment_nbytes_doc},
    {"raw", T_BOOL, offsetof(SegmentObject, raw), READONLY, segment_raw_doc},
    {"private", T_BOOL, offsetof(SegmentObject, priv), READONLY, segment_private_doc},
    {"ring", T_BOOL, offsetof(SegmentObject, ring), READONLY, segment_ring_doc},
    {"offset", T_ULONGLONG, offsetof(SegmentObject, offset), READONLY, segment_offset_doc},
    {NULL, 0, 0, 0, NULL},
};

/* A Segment carried into a child by fork() did not create anything there. */
static PyObject *seg_get_created(PyObject *obj, void *closure)
{
    (void)closure;
    SegmentObject *self = (SegmentObject *)obj;
    return PyBool_FromLong(self->created && self->created_pid == this_pid());
}

static PyGetSetDef segment_getset[] = {
    {"array", seg_get_array, NULL, segment_array_doc, NULL},
    {"created", seg_get_created, NULL, segment_created_doc, NULL},
    {"store", seg_get_store, NULL, segment_store_doc, NULL},
    {"os_handle", seg_get_os_handle, NULL, segment_os_handle_doc, NULL},
    {"generation", seg_get_generation, NULL, segment_generation_doc, NULL},
    {"readonly", seg_get_readonly, NULL, segment_readonly_doc, NULL},
    {"closed", seg_get_closed, NULL, segment_closed_doc, NULL},
    {"held", seg_get_held, NULL, segment_held_doc, NULL},
    {"info", seg_get_info, NULL, segment_info_doc, NULL},
    {"keywords", seg_get_keywords, NULL, segment_keywords_doc, NULL},
    {"seen", seg_get_seen, seg_set_seen, segment_seen_doc, NULL},
    {"attached", seg_get_attached, NULL, segment_attached_doc, NULL},
    {"lock_info", seg_get_lock_info, NULL, segment_lock_info_doc, NULL},
    {"locked", seg_get_locked, NULL, segment_locked_doc, NULL},
    {"write_state", seg_get_write_state, NULL, segment_write_state_doc, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef segment_methods[] = {
    {"publish", seg_publish, METH_NOARGS, segment_publish_doc},
    {"lock", (PyCFunction)(void (*)(void))seg_lock, METH_VARARGS | METH_KEYWORDS,
     segment_lock_doc},
    {"wait", (PyCFunction)(void (*)(void))seg_wait, METH_VARARGS | METH_KEYWORDS,
     segment_wait_doc},
    {"read_frame", (PyCFunction)(void (*)(void))seg_read_frame, METH_VARARGS | METH_KEYWORDS,
     segment_read_frame_doc},
    {"write_begin", seg_write_begin, METH_NOARGS, segment_write_begin_doc},
    {"write_abort", seg_write_abort, METH_NOARGS, segment_write_abort_doc},
    {"close", seg_close, METH_NOARGS, segment_close_doc},
    {"unmap", seg_unmap, METH_NOARGS, segment_unmap_doc},
    {"set_destroy", seg_set_destroy, METH_O, segment_set_destroy_doc},
    {"finish_create", seg_finish_create, METH_NOARGS, segment_finish_create_doc},
    {"dup", seg_dup, METH_NOARGS, segment_dup_doc},
    {"__array__", (PyCFunction)(void (*)(void))seg_array_protocol,
     METH_VARARGS | METH_KEYWORDS, segment_array_protocol_doc},
    {"lock_holders", seg_lock_holders, METH_NOARGS, segment_lock_holders_doc},
    {"__copy__", seg_dup, METH_NOARGS, segment_copy_doc},
    {"fileno", seg_fileno, METH_NOARGS, segment_fileno_doc},
    {"__enter__", seg_enter, METH_NOARGS, segment_enter_doc},
    {"__exit__", seg_exit, METH_VARARGS, segment_exit_doc},
    {"__reduce__", seg_reduce, METH_NOARGS, segment_reduce_doc},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject Segment_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "shmap.Segment",
    .tp_basicsize = sizeof(SegmentObject),
    .tp_dealloc = segment_dealloc,
    .tp_repr = segment_repr,
    .tp_as_buffer = &segment_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = segment_doc,
    .tp_weaklistoffset = offsetof(SegmentObject, weakrefs),
    .tp_methods = segment_methods,
    .tp_members = segment_members,
    .tp_getset = segment_getset,
};

/* ---------------------------------------------------------------------------------------- */
/* Keywords: a mutable mapping over the segment's keyword area. */

static int check_nargs(const char *fn, Py_ssize_t nargs, Py_ssize_t min, Py_ssize_t max)
{
    if (nargs >= min && nargs <= max)
        return 0;
    if (min == max)
        PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", fn, min, nargs);
    else
        PyErr_Format(PyExc_TypeError, "%s() takes %zd or %zd arguments (%zd given)", fn, min,
                     max, nargs);
    return -1;
}

static void keywords_dealloc(PyObject *obj)
{
    Py_XDECREF(((KeywordsObject *)obj)->segment);
    Py_TYPE(obj)->tp_free(obj);
}

/*
 * Keyword calls run with the GIL released: a keyword writer stopped in the middle of a
 * change (a debugger, SIGSTOP) makes the library wait for it, up to a second, and the
 * process's other threads must run meanwhile. Such a call uses a reference of its own, as
 * blocking calls do, since another thread may close the Segment while the GIL is gone.
 */
enum { KWC_GET, KWC_SET, KWC_SET_MANY, KWC_DELETE, KWC_DELETE_MANY, KWC_COUNT, KWC_LIST };

typedef struct kw_args {
    shmap_seg *seg;
    int op;
    const char *name;            /* KWC_GET, KWC_DELETE */
    shmap_keyword *kw;           /* KWC_GET: out; KWC_SET, KWC_SET_MANY: in */
    const unsigned char *keep;   /* KWC_SET_MANY: shmap_keyword_set_many()'s keep_comment */
    const char *const *names;    /* KWC_DELETE_MANY */
    size_t n;                    /* KWC_SET_MANY, KWC_DELETE_MANY: how many */
    shmap_keyword **list;        /* KWC_LIST: out, free() it */
} kw_args;

static int kw_run(void *ctx, double timeout)
{
    (void)timeout;
    kw_args *a = ctx;
    switch (a->op) {
    case KWC_GET:
        return shmap_keyword_get(a->seg, a->name, a->kw);
    case KWC_SET:
        return shmap_keyword_set(a->seg, a->kw);
    case KWC_SET_MANY:
        return shmap_keyword_set_many(a->seg, a->kw, a->n, a->keep, 0);
    case KWC_DELETE:
        return shmap_keyword_delete(a->seg, a->name);
    case KWC_DELETE_MANY:
        return shmap_keyword_delete_many(a->seg, a->names, a->n, SHMAP_KEYWORD_MISSING_OK);
    case KWC_COUNT:
        return shmap_keyword_list(a->seg, NULL, 0);
    default:
        return shmap_keyword_list_alloc(a->seg, a->list);
    }
}

/* What a keyword lookup or delete answers for a keyword that is not there (or whose name
 * no keyword can have): not an error to raise as such (KeyError, or not found). */
static const int kw_absent[] = {SHMAP_ENOKEY, SHMAP_EKEYWORD, 0};

/* Run a keyword call on @p seg (open) without the GIL. Returns the library's result, its
 * errors raised (-1 with a Python exception set) unless listed in @p quiet (0-terminated:
 * returned as they are, nothing raised). */
static int kw_call(SegmentObject *seg, kw_args *a, const int *quiet)
{
    ref_node node;
    if (borrow(seg, &node) < 0)
        return -1;
    a->seg = node.seg;
    int rc = blocking(kw_run, a, 0, seg);
    int raise = rc < 0;
    for (const int *q = quiet; raise && q && *q; q++)
        raise = rc != *q;
    if (raise)
        raise_seg(seg, rc); /* before unborrow(), whose close may say something else */
    unborrow(&node);
    return raise ? -1 : rc;
}

/* A key as a keyword name: 1 and the name; 0 for a key no keyword can have (not a str, one
 * with a lone surrogate, or one with a NUL, which C would cut short and so name another
 * keyword); -1 error. */
static int kw_key(PyObject *key, const char **name)
{
    if (!PyUnicode_Check(key))
        return 0;
    Py_ssize_t len;
    *name = PyUnicode_AsUTF8AndSize(key, &len);
    if (!*name && PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
        PyErr_Clear(); /* a lone surrogate: no keyword's name */
        return 0;
    }
    if (!*name)
        return -1;
    return strlen(*name) == (size_t)len;
}

/* Read one keyword: 1 found, 0 not there (or a name that cannot be), -1 error. */
static int kw_lookup(KeywordsObject *self, PyObject *key, shmap_keyword *out)
{
    if (check_open(self->segment) < 0)
        return -1;
    const char *name;
    int valid = kw_key(key, &name);
    if (valid <= 0)
        return valid;
    kw_args a = {.op = KWC_GET, .name = name, .kw = out};
    int rc = kw_call(self->segment, &a, kw_absent);
    if (rc == -1)
        return -1;
    return rc == 0;
}

/* KeyError(key), the key kept whole: a tuple given to PyErr_SetObject would be taken for
 * the exception's arguments (KeyError(('X',)) would say 'X', KeyError(()) nothing). */
static void raise_key_error(PyObject *key)
{
    PyObject *args = PyTuple_Pack(1, key);
    if (args) {
        PyErr_SetObject(PyExc_KeyError, args);
        Py_DECREF(args);
    }
}

static PyObject *kw_getitem(PyObject *obj, PyObject *key)
{
    shmap_keyword kw;
    int found = kw_lookup((KeywordsObject *)obj, key, &kw);
    if (found < 0)
        return NULL;
    if (!found) {
        raise_key_error(key);
        return NULL;
    }
    return kw_value_to_py(&kw);
}

/* Set name = value; comment NULL keeps the existing comment. */
static int kw_store(KeywordsObject *self, PyObject *key, PyObject *value, PyObject *comment)
{
    shmap_keyword kw;
    memset(&kw, 0, sizeof kw);
    if (check_open(self->segment) < 0)
        return -1;
    const char *who = seg_cname(self->segment);
    if (kw_name_from_py(key, who, kw.name) < 0 || kw_value_from_py(value, who, &kw) < 0 ||
        (comment && kw_comment_from_py(comment, who, &kw) < 0))
        return -1;
    /* Again after the conversions, which may run Python code (a numpy scalar subclass's
     * __index__) and so let another thread close the Segment. */
    if (check_open(self->segment) < 0)
        return -1;
    /* Without a comment, one keyword set as several are: keeping its comment, in the
     * same change. */
    static const unsigned char keep = 1;
    kw_args a = {.op = comment ? KWC_SET : KWC_SET_MANY, .kw = &kw, .keep = &keep, .n = 1};
    return kw_call(self->segment, &a, NULL) < 0 ? -1 : 0;
}

/* Is @p value a (value, comment) pair, as create(keywords=) and assignments take them? */
static int kw_is_pair(PyObject *value)
{
    return PyTuple_Check(value) && PyTuple_GET_SIZE(value) == 2;
}

/*
 * The keywords the (name, value) 2-tuples in the list @p pairs give, in @p *out (to free
 * with PyMem_Free()), as kw[name] = value takes them: a (value, comment) pair gives the
 * comment; a plain value keeps the keyword's, as @p *keep (to free) says for
 * shmap_keyword_set_many(). Both NULL when there are none. 0, or -1 with an exception set.
 */
static int keywords_from_pairs(PyObject *pairs, const char *who, shmap_keyword **out,
                               unsigned char **keep, Py_ssize_t *count)
{
    Py_ssize_t n = PyList_GET_SIZE(pairs);
    *out = NULL;
    *keep = NULL;
    *count = 0;
    if (n == 0)
        return 0;
    shmap_keyword *kw = PyMem_Calloc((size_t)n, sizeof *kw);
    unsigned char *bare = PyMem_Calloc((size_t)n, 1);
    if (!kw || !bare) {
        PyMem_Free(kw);
        PyMem_Free(bare);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PyList_GET_ITEM(pairs, i);
        PyObject *value = PyTuple_GET_ITEM(pair, 1), *comment = NULL;
        bare[i] = !kw_is_pair(value);
        if (!bare[i]) {
            comment = PyTuple_GET_ITEM(value, 1);
            value = PyTuple_GET_ITEM(value, 0);
        }
        if (kw_name_from_py(PyTuple_GET_ITEM(pair, 0), who, kw[i].name) < 0 ||
            kw_value_from_py(value, who, &kw[i]) < 0 ||
            (comment && kw_comment_from_py(comment, who, &kw[i]) < 0)) {
            PyMem_Free(kw);
            PyMem_Free(bare);
            return -1;
        }
    }
    *out = kw;
    *keep = bare;
    *count = n;
    return 0;
}

/* Set name = value as kw[name] = value, update() and setdefault() do: a (value, comment)
 * pair sets the comment too, with create()'s rules; a plain value keeps the comment. */
static int kw_store_value(KeywordsObject *self, PyObject *key, PyObject *value)
{
    if (kw_is_pair(value))
        return kw_store(self, key, PyTuple_GET_ITEM(value, 0), PyTuple_GET_ITEM(value, 1));
    return kw_store(self, key, value, NULL);
}

static int kw_delete(KeywordsObject *self, PyObject *key)
{
    if (check_open(self->segment) < 0)
        return -1;
    const char *name;
    int valid = kw_key(key, &name);
    if (valid < 0)
        return -1;
    int rc = SHMAP_ENOKEY;
    if (valid) {
        kw_args a = {.op = KWC_DELETE, .name = name};
        rc = kw_call(self->segment, &a, kw_absent);
    }
    if (rc == SHMAP_ENOKEY || rc == SHMAP_EKEYWORD)
        raise_key_error(key);
    return rc < 0 ? -1 : 0;
}

static int kw_ass_subscript(PyObject *obj, PyObject *key, PyObject *value)
{
    KeywordsObject *self = (KeywordsObject *)obj;
    return value ? kw_store_value(self, key, value) : kw_delete(self, key);
}

static Py_ssize_t kw_length(PyObject *obj)
{
    KeywordsObject *self = (KeywordsObject *)obj;
    if (check_open(self->segment) < 0)
        return -1;
    kw_args a = {.op = KWC_COUNT};
    return kw_call(self->segment, &a, NULL);
}

static int kw_contains(PyObject *obj, PyObject *key)
{
    shmap_keyword kw;
    return kw_lookup((KeywordsObject *)obj, key, &kw);
}

enum { KW_KEYS, KW_VALUES, KW_ITEMS };

static PyObject *kw_listing(KeywordsObject *self, int what)
{
    if (check_open(self->segment) < 0)
        return NULL;
    shmap_keyword *kw;
    kw_args a = {.op = KWC_LIST, .list = &kw};
    int n = kw_call(self->segment, &a, NULL);
    if (n < 0)
        return NULL;
    PyObject *list = PyList_New(n);
    for (int i = 0; list && i < n; i++) {
        PyObject *item = NULL, *name = NULL, *value = NULL;
        if (what != KW_VALUES)
            name = PyUnicode_FromString(kw[i].name);
        if (what != KW_KEYS)
            value = kw_value_to_py(&kw[i]);
        if (what == KW_KEYS)
            item = Py_XNewRef(name);
        else if (what == KW_VALUES)
            item = Py_XNewRef(value);
        else if (name && value)
            item = PyTuple_Pack(2, name, value);
        Py_XDECREF(name);
        Py_XDECREF(value);
        if (!item) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, item);
    }
    free(kw);
    return list;
}

static PyObject *kw_iter(PyObject *obj)
{
    PyObject *keys = kw_listing((KeywordsObject *)obj, KW_KEYS);
    if (!keys)
        return NULL;
    PyObject *it = PyObject_GetIter(keys);
    Py_DECREF(keys);
    return it;
}

static PyObject *kw_keys(PyObject *obj, PyObject *unused)
{
    (void)unused;
    return kw_listing((KeywordsObject *)obj, KW_KEYS);
}

static PyObject *kw_values(PyObject *obj, PyObject *unused)
{
    (void)unused;
    return kw_listing((KeywordsObject *)obj, KW_VALUES);
}

static PyObject *kw_items(PyObject *obj, PyObject *unused)
{
    (void)unused;
    return kw_listing((KeywordsObject *)obj, KW_ITEMS);
}

static PyObject *kw_to_dict(PyObject *obj)
{
    PyObject *items = kw_listing((KeywordsObject *)obj, KW_ITEMS);
    if (!items)
        return NULL;
    PyObject *d = PyDict_New();
    if (d && PyDict_MergeFromSeq2(d, items, 1) < 0)
        Py_CLEAR(d);
    Py_DECREF(items);
    return d;
}

/*
 * Refuse a method that may write (pop, popitem, setdefault, update, clear) on a read-only
 * Segment before it looks at the keywords, so that it fails whatever they hold, as the
 * library refuses a set or a delete: 0, or -1 raised (also for a closed Segment, and ERAW
 * for a raw mapping).
 */
static int kw_check_write(KeywordsObject *self)
{
    SegmentObject *seg = self->segment;
    if (check_open(seg) < 0)
        return -1;
    if (seg->raw) {
        raise_raw(seg, "keywords");
        return -1;
    }
    if (seg->writable)
        return 0;
    char msg[SHMAP_NAME_MAX + 256];
    snprintf(msg, sizeof msg, "%s: cannot change keywords through a read-only handle (this "
             "Segment was opened read-only: open the segment with readonly=False to write it)",
             seg_cname(seg));
    raise_text(NULL, SHMAP_EREADONLY, seg_cname(seg), msg);
    return -1;
}

static PyObject *kw_get(PyObject *obj, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_nargs("get", nargs, 1, 2) < 0)
        return NULL;
    shmap_keyword kw;
    int found = kw_lookup((KeywordsObject *)obj, args[0], &kw);
    if (found < 0)
        return NULL;
    if (found)
        return kw_value_to_py(&kw);
    return Py_NewRef(nargs > 1 ? args[1] : Py_None);
}

static PyObject *kw_pop(PyObject *obj, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_nargs("pop", nargs, 1, 2) < 0)
        return NULL;
    KeywordsObject *self = (KeywordsObject *)obj;
    if (kw_check_write(self) < 0)
        return NULL;
    shmap_keyword kw;
    int found = kw_lookup(self, args[0], &kw);
    if (found < 0)
        return NULL;
    if (!found) {
        if (nargs > 1)
            return Py_NewRef(args[1]);
        raise_key_error(args[0]);
        return NULL;
    }
    if (kw_delete(self, args[0]) < 0)
        return NULL;
    return kw_value_to_py(&kw);
}

static PyObject *kw_setdefault(PyObject *obj, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_nargs("setdefault", nargs, 1, 2) < 0)
        return NULL;
    KeywordsObject *self = (KeywordsObject *)obj;
    if (kw_check_write(self) < 0)
        return NULL;
    shmap_keyword kw;
    int found = kw_lookup(self, args[0], &kw);
    if (found < 0)
        return NULL;
    if (found)
        return kw_value_to_py(&kw);
    /* MutableMapping's default, None, is no keyword value: storing it raises TypeError. */
    PyObject *value = nargs > 1 ? args[1] : Py_None;
    if (kw_store_value(self, args[0], value) < 0)
        return NULL;
    /* The value now there: of a pair, its value. */
    return Py_NewRef(kw_is_pair(value) ? PyTuple_GET_ITEM(value, 0) : value);
}

/* Append to @p pairs the (name, value) tuples @p other gives: a mapping (one with keys()),
 * or an iterable of 2-sequences, as dict.update() takes them. 0, or -1 with an exception. */
static int kw_pairs_of(PyObject *pairs, PyObject *other)
{
    PyObject *items;
    if (PyDict_Check(other)) {
        items = PyDict_Items(other);
    } else if (PyObject_HasAttrString(other, "keys")) {
        /* A copy of its own, as in create_keywords(): __getitem__ may change the list
         * keys() gave. */
        PyObject *given = PyMapping_Keys(other);
        PyObject *keys = given ? PySequence_List(given) : NULL;
        Py_XDECREF(given);
        if (!keys)
            return -1;
        items = PyList_New(0);
        for (Py_ssize_t i = 0; items && i < PyList_GET_SIZE(keys); i++) {
            PyObject *k = PyList_GET_ITEM(keys, i);
            PyObject *v = PyObject_GetItem(other, k);
            PyObject *pair = v ? PyTuple_Pack(2, k, v) : NULL;
            Py_XDECREF(v);
            if (!pair || PyList_Append(items, pair) < 0)
                Py_CLEAR(items);
            Py_XDECREF(pair);
        }
        Py_DECREF(keys);
    } else {
        items = PySequence_List(other);
    }
    if (!items)
        return -1;
    int rc = 0;
    for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(items); i++) {
        PyObject *seq = PySequence_Fast(PyList_GET_ITEM(items, i),
                                        "update() needs (name, value) pairs");
        PyObject *pair = NULL;
        if (seq && PySequence_Fast_GET_SIZE(seq) != 2)
            PyErr_SetString(PyExc_ValueError, "update() needs (name, value) pairs");
        else if (seq)
            pair = PyTuple_Pack(2, PySequence_Fast_GET_ITEM(seq, 0),
                                PySequence_Fast_GET_ITEM(seq, 1));
        if (!pair || PyList_Append(pairs, pair) < 0)
            rc = -1;
        Py_XDECREF(pair);
        Py_XDECREF(seq);
    }
    Py_DECREF(items);
    return rc;
}

/* update(): every keyword converted first, then set in one change, all or none. */
static PyObject *kw_update(PyObject *obj, PyObject *args, PyObject *kwargs)
{
    KeywordsObject *self = (KeywordsObject *)obj;
    PyObject *other = NULL;
    if (!PyArg_UnpackTuple(args, "update", 0, 1, &other) || kw_check_write(self) < 0)
        return NULL;
    PyObject *pairs = PyList_New(0);
    if (!pairs || (other && kw_pairs_of(pairs, other) < 0) ||
        (kwargs && kw_pairs_of(pairs, kwargs) < 0)) {
        Py_XDECREF(pairs);
        return NULL;
    }
    shmap_keyword *kw = NULL;
    unsigned char *keep = NULL;
    Py_ssize_t n = 0;
    int rc = check_open(self->segment);
    if (rc == 0)
        rc = keywords_from_pairs(pairs, seg_cname(self->segment), &kw, &keep, &n);
    Py_DECREF(pairs);
    /* Again after the conversions, which may run Python code and so let another thread
     * close the Segment. */
    if (rc == 0 && n > 0 && (rc = check_open(self->segment)) == 0) {
        kw_args a = {.op = KWC_SET_MANY, .kw = kw, .keep = keep, .n = (size_t)n};
        rc = kw_call(self->segment, &a, NULL) < 0 ? -1 : 0;
    }
    PyMem_Free(kw);
    PyMem_Free(keep);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* clear(): every keyword there deleted in one change (one another process deleted
 * meanwhile is no error: that is what clear() wants). */
static PyObject *kw_clear(PyObject *obj, PyObject *unused)
{
    (void)unused;
    KeywordsObject *self = (KeywordsObject *)obj;
    if (kw_check_write(self) < 0)
        return NULL;
    PyObject *keys = kw_listing(self, KW_KEYS);
    if (!keys)
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(keys);
    const char **names = PyMem_Calloc(n > 0 ? (size_t)n : 1, sizeof *names);
    int rc = names ? 0 : -1;
    if (!names)
        PyErr_NoMemory();
    for (Py_ssize_t i = 0; rc == 0 && i < n; i++)
        if (!(names[i] = PyUnicode_AsUTF8(PyList_GET_ITEM(keys, i))))
            rc = -1;
    if (rc == 0 && n > 0 && (rc = check_open(self->segment)) == 0) {
        kw_args a = {.op = KWC_DELETE_MANY, .names = names, .n = (size_t)n};
        rc = kw_call(self->segment, &a, NULL) < 0 ? -1 : 0;
    }
    PyMem_Free(names);
    Py_DECREF(keys);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* popitem(): the last keyword in iteration order (the one first set most recently), as
 * dict.popitem() takes the last inserted. */
static PyObject *kw_popitem(PyObject *obj, PyObject *unused)
{
    (void)unused;
    KeywordsObject *self = (KeywordsObject *)obj;
    if (kw_check_write(self) < 0)
        return NULL;
    for (;;) {
        PyObject *items = kw_listing(self, KW_ITEMS);
        if (!items)
            return NULL;
        Py_ssize_t n = PyList_GET_SIZE(items);
        if (n == 0) {
            Py_DECREF(items);
            PyErr_SetString(PyExc_KeyError, "popitem(): no keywords");
            return NULL;
        }
        PyObject *item = Py_NewRef(PyList_GET_ITEM(items, n - 1));
        Py_DECREF(items);
        if (kw_delete(self, PyTuple_GET_ITEM(item, 0)) == 0)
            return item;
        Py_DECREF(item);
        /* Deleted meanwhile by another process: take the next one. */
        if (!PyErr_ExceptionMatches(PyExc_KeyError))
            return NULL;
        PyErr_Clear();
    }
}

static PyObject *kw_set(PyObject *obj, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"", "", "comment", NULL};
    PyObject *name, *value, *comment = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|O:set", kwlist, &name, &value, &comment))
        return NULL;
    int rc;
    if (comment == Py_None) {
        rc = kw_store_value((KeywordsObject *)obj, name, value);
    } else if (kw_is_pair(value)) {
        PyErr_SetString(PyExc_TypeError, "give the comment once: a (value, comment) pair, or "
                                         "comment=, not both");
        rc = -1;
    } else {
        rc = kw_store((KeywordsObject *)obj, name, value, comment);
    }
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *kw_comment(PyObject *obj, PyObject *key)
{
    shmap_keyword kw;
    int found = kw_lookup((KeywordsObject *)obj, key, &kw);
    if (found < 0)
        return NULL;
    if (!found) {
        raise_key_error(key);
        return NULL;
    }
    return str_or_none(kw.comment);
}

static PyObject *kw_comments(PyObject *obj, PyObject *unused)
{
    (void)unused;
    KeywordsObject *self = (KeywordsObject *)obj;
    if (check_open(self->segment) < 0)
        return NULL;
    shmap_keyword *kw;
    kw_args a = {.op = KWC_LIST, .list = &kw};
    int n = kw_call(self->segment, &a, NULL);
    if (n < 0)
        return NULL;
    PyObject *d = PyDict_New();
    for (int i = 0; d && i < n; i++)
        if (kw[i].comment[0] && put(d, kw[i].name, str_or_none(kw[i].comment)) < 0)
            Py_CLEAR(d);
    free(kw);
    return d;
}

static PyObject *kw_richcompare(PyObject *obj, PyObject *other, int op)
{
    if ((op != Py_EQ && op != Py_NE) || !PyMapping_Check(other) ||
        !(PyDict_Check(other) || PyObject_TypeCheck(other, &Keywords_Type)))
        Py_RETURN_NOTIMPLEMENTED;
    PyObject *mine = kw_to_dict(obj);
    if (!mine)
        return NULL;
    PyObject *theirs = PyObject_TypeCheck(other, &Keywords_Type) ? kw_to_dict(other)
                                                                  : Py_NewRef(other);
    PyObject *res = theirs ? PyObject_RichCompare(mine, theirs, op) : NULL;
    Py_DECREF(mine);
    Py_XDECREF(theirs);
    return res;
}

static PyObject *kw_repr(PyObject *obj)
{
    /* repr() of what a closed Segment leaves says so, as the Segment's own does: a repr
     * that raises breaks debuggers and logging. */
    SegmentObject *seg = ((KeywordsObject *)obj)->segment;
    if (!seg->seg)
        return PyUnicode_FromFormat("<shmap.Keywords of %R closed>", seg->name);
    PyObject *d = kw_to_dict(obj);
    if (!d)
        return NULL;
    PyObject *res = PyUnicode_FromFormat("<shmap.Keywords of %R %R>",
                                         ((KeywordsObject *)obj)->segment->name, d);
    Py_DECREF(d);
    return res;
}

static PyMappingMethods keywords_as_mapping = {
    .mp_length = kw_length,
    .mp_subscript = kw_getitem,
    .mp_ass_subscript = kw_ass_subscript,
};

static PySequenceMethods keywords_as_sequence = {
    .sq_contains = kw_contains,
};

static PyMethodDef keywords_methods[] = {
    {"keys", kw_keys, METH_NOARGS, keywords_keys_doc},
    {"values", kw_values, METH_NOARGS, keywords_values_doc},
    {"items", kw_items, METH_NOARGS, keywords_items_doc},
    {"get", (PyCFunction)(void (*)(void))kw_get, METH_FASTCALL, keywords_get_doc},
    {"pop", (PyCFunction)(void (*)(void))kw_pop, METH_FASTCALL, keywords_pop_doc},
    {"setdefault", (PyCFunction)(void (*)(void))kw_setdefault, METH_FASTCALL,
     keywords_setdefault_doc},
    {"update", (PyCFunction)(void (*)(void))kw_update, METH_VARARGS | METH_KEYWORDS,
     keywords_update_doc},
    {"popitem", kw_popitem, METH_NOARGS, keywords_popitem_doc},
    {"clear", kw_clear, METH_NOARGS, keywords_clear_doc},
    {"set", (PyCFunction)(void (*)(void))kw_set, METH_VARARGS | METH_KEYWORDS,
     keywords_set_doc},
    {"comment", kw_comment, METH_O, keywords_comment_doc},
    {"comments", kw_comments, METH_NOARGS, keywords_comments_doc},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject Keywords_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "shmap.Keywords",
    .tp_basicsize = sizeof(KeywordsObject),
    .tp_dealloc = keywords_dealloc,
    .tp_repr = kw_repr,
    .tp_as_sequence = &keywords_as_sequence,
    .tp_as_mapping = &keywords_as_mapping,
    .tp_hash = PyObject_HashNotImplemented,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_MAPPING,
    .tp_doc = keywords_doc,
    .tp_richcompare = kw_richcompare,
    .tp_iter = kw_iter,
    .tp_methods = keywords_methods,
};

/* ---------------------------------------------------------------------------------------- */
/* Module functions */

/*
 * An int argument of create() within [lo, hi]: -1 with TypeError (not an int) or
 * shmap.ArgumentError "NAME=VALUE RANGE" (out of range, whatever its size), naming the
 * argument. Parsed here rather than by PyArg_Parse's 'I', which wraps modulo 2**32, and
 * PyLong_AsLong, whose errors do not say which argument. @p octal writes the value in octal
 * (permission bits); PyUnicode_FromFormat has no %o, PyNumber_ToBase does it for any size.
 */

static int int_arg(PyObject *obj, const char *what, long long lo, long long hi, int octal,
                   const char *range, long long *out)
{
    /* True is an int to Python, but never a mode, a size or a count anyone meant. */
    if (PyBool_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, not bool", what);
        return -1;
    }
    PyObject *index = PyNumber_Index(obj);
    if (!index) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", what,
                         Py_TYPE(obj)->tp_name);
        }
        return -1;
    }
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(index, &overflow);
    if (v == -1 && PyErr_Occurred()) {
        Py_DECREF(index);
        return -1;
    }
    if (overflow || v < lo || v > hi) {
        PyObject *text = octal ? PyNumber_ToBase(index, 8) : PyObject_Str(index);
        PyObject *msg = text ? PyUnicode_FromFormat("%s=%U %s", what, text, range) : NULL;
        const char *utf8 = msg ? PyUnicode_AsUTF8(msg) : NULL;
        if (utf8)
            raise_text(ArgumentError, SHMAP_EINVAL, NULL, utf8);
        Py_XDECREF(msg);
        Py_XDECREF(text);
        Py_DECREF(index);
        return -1;
    }
    Py_DECREF(index);
    *out = v;
    return 0;
}

/*
 * The keywords create(keywords=...) gives, in @p *out (to free), with whether each came
 * without a comment (a value, not a (value, comment) pair), so that a keyword there keeps
 * its own, in @p *keep (to free; NULL when there are none). 0, or -1 with an exception set.
 */
static int create_keywords(PyObject *mapping, const char *who, shmap_keyword **out,
                           unsigned char **keep, Py_ssize_t *count)
{
    *out = NULL;
    *keep = NULL;
    *count = 0;
    if (!mapping || mapping == Py_None)
        return 0;
    /* A list of pairs passes PyMapping_Check (lists have a subscript), so look for what is
     * used, items(); without this check it fails with an AttributeError about 'items'. */
    if (!PyDict_Check(mapping) && !PyObject_HasAttrString(mapping, "items")) {
        PyErr_Format(PyExc_TypeError, "keywords must be a mapping (name -> value, or name -> "
                                      "(value, comment)), such as a dict, not %.100s",
                     Py_TYPE(mapping)->tp_name);
        return -1;
    }
    /* A copy of its own: items() may give a list the caller holds, and converting a value
     * runs code (an __index__, a __float__) that may change it. */
    PyObject *given = PyMapping_Items(mapping);
    PyObject *items = given ? PySequence_List(given) : NULL;
    Py_XDECREF(given);
    if (!items)
        return -1;
    Py_ssize_t n = PyList_GET_SIZE(items);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PyList_GET_ITEM(items, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_Format(PyExc_TypeError, "keywords.items() must give (name, value) pairs, "
                                          "not %.100R", pair);
            Py_DECREF(items);
            return -1;
        }
    }
    int rc = keywords_from_pairs(items, who, out, keep, count);
    Py_DECREF(items);
    return rc;
}

static PyObject *mod_create(PyObject *module, PyObject *args, PyObject *kwargs)
{
    (void)module;
    static char *kwlist[] = {"name", "shape", "dtype", "mode", "keep", "transient", "replace",
                             "exist_ok", "prefault", "keywords", "keyword_capacity", "ring",
                             "hugepages", "hidden", NULL};
    PyObject *name_obj, *shape_obj, *dtype_obj, *mode_obj = NULL, *keywords = Py_None;
    PyObject *kwcap_obj = NULL;
    int keep = 0, transient = 0, replace = 0, exist_ok = 0, prefault = 0, ring = 0, huge = 0;
    int hidden = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO|$OpppppOOppp:create", kwlist, &name_obj,
                                     &shape_obj, &dtype_obj, &mode_obj, &keep, &transient,
                                     &replace, &exist_ok, &prefault, &keywords, &kwcap_obj,
                                     &ring, &huge, &hidden))
        return NULL;
    char name[SHMAP_NAME_MAX];
    if (name_arg(name_obj, "name", name) < 0)
        return NULL;
    unsigned ndim;
    uint64_t dims[SHMAP_MAX_DIMS];
    if (shape_from_py(shape_obj, name, &ndim, dims) < 0)
        return NULL;
    shmap_dtype dt;
    char fields[SHMAP_RECORD_FIELDS_MAX];
    if (dtype_from_py(dtype_obj, &dt, fields) < 0)
        return NULL;
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    if (mode_obj && mode_obj != Py_None) {
        /* Refused here, as `shmap create --mode` refuses it, whatever the library does with
         * those bits: a segment has no use for them and a set-user-id one is a hazard. */
        long long mode;
        if (int_arg(mode_obj, "mode", 0, 0777, 1,
                    "is not a set of permission bits (0o1 to 0o777: set-user-id, set-group-id "
                    "and sticky bits cannot be set)", &mode) < 0)
            return NULL;
        /* The library reads 0 as "the default, 0600": passing it on would make the segment
         * its owner's instead of nobody's. */
        if (mode == 0) {
            raise_text(ArgumentError, SHMAP_EINVAL, NULL,
                       "mode=0 cannot be given to create(): it means the default, 0o600; to "
                       "make a segment nobody may open, create it, then call "
                       "shmap.chmod(name, 0)");
            return NULL;
        }
        opts.mode = (unsigned)mode;
    }
    if (kwcap_obj) {
        long long cap;
        if (int_arg(kwcap_obj, "keyword_capacity", 0, SHMAP_KEYWORD_CAPACITY_MAX, 0,
                    "is out of range: 0 (the default, "
                    SHMAP_STR(SHMAP_KEYWORD_CAPACITY_DEFAULT) " slots) to "
                    SHMAP_STR(SHMAP_KEYWORD_CAPACITY_MAX) " slots", &cap) < 0)
            return NULL;
        opts.keyword_capacity = (unsigned)cap;
    }
    if (replace && exist_ok) {
        PyErr_SetString(PyExc_ValueError, "replace and exist_ok exclude each other");
        return NULL;
    }
    if (hidden && exist_ok) {
        PyErr_SetString(PyExc_ValueError, "hidden and exist_ok exclude each other (an existing "
                                          "segment has its name already)");
        return NULL;
    }
    opts.flags = (keep ? SHMAP_CREATE_KEEP : 0) | (transient ? SHMAP_CREATE_TRANSIENT : 0) |
                 (replace ? SHMAP_CREATE_REPLACE : 0) | (exist_ok ? SHMAP_CREATE_OPEN : 0) |
                 (prefault ? SHMAP_CREATE_PREFAULT : 0) | (ring ? SHMAP_CREATE_RING : 0) |
                 (huge ? SHMAP_CREATE_HUGEPAGES : 0) | (hidden ? SHMAP_CREATE_HIDDEN : 0);
    opts.record_fields = dt == SHMAP_RECORD ? fields : NULL;
    shmap_keyword *kw;
    unsigned char *keep_comment;
    Py_ssize_t nkw;
    if (create_keywords(keywords, name, &kw, &keep_comment, &nkw) < 0)
        return NULL;
    /* A new segment has them before it appears under its name. */
    opts.keywords = kw;
    opts.nkeywords = (unsigned)nkw;

    shmap_seg *seg;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = shmap_create(&seg, name, dt, ndim, dims, &opts);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        PyMem_Free(kw);
        PyMem_Free(keep_comment);
        return raise_lib(rc, name);
    }
    /* One that exist_ok found gets them set on it, all or none (a new one has them
     * already: setting them again changes nothing, and `created` cannot tell the two apart
     * in the process that made the segment). Those given without a comment keep theirs. */
    if (exist_ok && nkw > 0) {
        Py_BEGIN_ALLOW_THREADS
        rc = shmap_keyword_set_many(seg, kw, (size_t)nkw, keep_comment, 0);
        Py_END_ALLOW_THREADS
    }
    PyMem_Free(kw);
    PyMem_Free(keep_comment);
    if (rc < 0) {
        raise_lib(rc, name);
        close_handle(seg, 0);
        return NULL;
    }
    return segment_wrap(seg, NULL);
}

/*
 * The array a raw open maps: from dtype and shape, or from a template (a Segment or a name).
 * The binding resolves templates itself, rather than through shmap_raw_opts: it needs the
 * numpy type of a record template, which a raw handle does not describe (its info has no
 * field list), and a template Segment's handle is read here, with the GIL held.
 */
typedef struct {
    shmap_dtype dtype;
    unsigned ndim;
    uint64_t dims[SHMAP_MAX_DIMS];
    char fields[SHMAP_RECORD_FIELDS_MAX];
    PyArray_Descr *descr; /* new reference */
    char template_name[SHMAP_NAME_MAX];
} raw_array;

/*
 * A raw open's dtype naming the other byte order than this machine's, as numpy spells it
 * ('>f4' here, as str or bytes, or such a numpy dtype; the library's '!f4' too): 1, with
 * the shmap type in *out and that dtype in *descr (a new reference), whose arrays numpy
 * reads and writes as numbers; 0 for any other dtype (dtype_from_py() takes it, and refuses
 * records in the other order); -1 with an exception. Segments made here hold this
 * machine's order only.
 */
static int other_order_dtype(PyObject *obj, shmap_dtype *out, PyArray_Descr **descr)
{
    if (PyUnicode_Check(obj) || PyBytes_Check(obj)) {
        /* Read by the library, as the CLI reads it ('>F4', '!f4'), then made numpy's: the
         * type in this machine's order, still read as numpy's code ('=i8' is an i64, where
         * a bare 'i8' is shmap's i8), with its byte order swapped. */
        const char *s = PyUnicode_Check(obj) ? PyUnicode_AsUTF8(obj) : PyBytes_AsString(obj);
        shmap_dtype dt;
        if (!s)
            return -1;
        if (strchr(s, ':') || shmap_dtype_parse(s, &dt) != SHMAP_EBYTEORDER)
            return 0;
        size_t n = strlen(s);
        char *native = PyMem_Malloc(n + 1);
        if (!native) {
            PyErr_NoMemory();
            return -1;
        }
        native[0] = '=';
        memcpy(native + 1, s + 1, n);
        int rc = shmap_dtype_parse(native, out);
        PyMem_Free(native);
        if (rc < 0) {
            raise_as(DtypeError, rc, NULL);
            return -1;
        }
        PyArray_Descr *d = descr_of_type(*out);
        if (!d)
            return -1;
        *descr = PyArray_DescrNewByteorder(d, NPY_SWAP);
        Py_DECREF(d);
        return *descr ? 1 : -1;
    }
    if (!PyArray_DescrCheck(obj))
        return 0; /* a scalar type (numpy.float32) is of this machine's order */
    PyArray_Descr *d = (PyArray_Descr *)obj;
    if (!other_order(d))
        return 0;
    PyArray_Descr *native = PyArray_DescrNewByteorder(d, NPY_NATIVE);
    if (!native)
        return -1;
    int rc = shmap_type_of_simple(native, NULL, out);
    Py_DECREF(native);
    if (rc < 0) {
        /* Said of the dtype given, not of the copy in this machine's order. */
        PyErr_Clear();
        shmap_type_of_simple(d, NULL, out);
        return -1;
    }
    *descr = (PyArray_Descr *)Py_NewRef(obj);
    return 1;
}

static int raw_array_from_py(const char *name, PyObject *dtype_obj, PyObject *shape_obj,
                             PyObject *template, raw_array *out)
{
    out->descr = NULL;
    out->fields[0] = '\0';
    if (template != Py_None && (dtype_obj != Py_None || shape_obj != Py_None)) {
        PyErr_SetString(PyExc_TypeError, "give template, or dtype and shape, not both");
        return -1;
    }
    if (template != Py_None) {
        shmap_info *info = PyMem_Malloc(sizeof *info);
        if (!info) {
            PyErr_NoMemory();
            return -1;
        }
        int rc;
        const char *tname = NULL;
        if (PyObject_TypeCheck(template, &Segment_Type)) {
            SegmentObject *t = (SegmentObject *)template;
            if (check_open(t) < 0) {
                PyMem_Free(info);
                return -1;
            }
            rc = shmap_info_get(t->seg, info);
            if (rc == 0)
                out->descr = (PyArray_Descr *)Py_NewRef((PyObject *)t->descr);
        } else if (PyUnicode_Check(template) || PyBytes_Check(template)) {
            if (name_arg(template, "template", out->template_name) < 0) {
                PyMem_Free(info);
                return -1;
            }
            tname = out->template_name;
            Py_BEGIN_ALLOW_THREADS
            rc = shmap_stat(tname, info);
            Py_END_ALLOW_THREADS
            if (rc == 0 && !(out->descr = descr_of_info(info))) {
                PyMem_Free(info);
                return -1;
            }
        } else {
            PyMem_Free(info);
            PyErr_Format(PyExc_TypeError, "template must be a shmap.Segment or a segment name, "
                                          "not %.100s", Py_TYPE(template)->tp_name);
            return -1;
        }
        if (rc < 0) {
            raise_lib(rc, tname);
            PyMem_Free(info);
            return -1;
        }
        out->dtype = info->dtype;
        out->ndim = info->ndim;
        memcpy(out->dims, info->dims, sizeof out->dims);
        if (info->dtype == SHMAP_RECORD)
            snprintf(out->fields, sizeof out->fields, "%s", info->record_fields);
        PyMem_Free(info);
        return 0;
    }
    if (dtype_obj == Py_None || shape_obj == Py_None) {
        PyErr_Format(PyExc_TypeError, "a raw open needs both dtype and shape (%s is missing), "
                                      "or a template",
                     dtype_obj == Py_None ? "dtype" : "shape");
        return -1;
    }
    int other = other_order_dtype(dtype_obj, &out->dtype, &out->descr);
    if (other < 0 || (!other && dtype_from_py(dtype_obj, &out->dtype, out->fields) < 0) ||
        shape_from_py(shape_obj, name, &out->ndim, out->dims) < 0) {
        Py_CLEAR(out->descr);
        return -1;
    }
    if (!other)
        out->descr = descr_of_parsed(out->dtype, out->fields);
    return out->descr ? 0 : -1;
}

/*
 * Hold-while-open (open(..., hold=True)): what SHMAP_HOLD is documented to be, the open
 * followed by shmap_lock() of the same kind, here with the caller's timeout (SHMAP_HOLD's
 * own wait has none); close() releases it. It runs as one blocking call, so Ctrl-C ends
 * the wait (and the handle opened for it is closed) and a writer's claim is kept for the
 * whole wait. Who holds the lock is read in the call, before a handle that timed out is
 * closed.
 */
typedef struct {
    const char *name;       /* the name to open, or (with fd) what messages call it */
    int fd;                 /* >= 0: open the segment behind this descriptor instead */
    unsigned flags;         /* SHMAP_RDONLY or SHMAP_RDWR */
    shmap_seg *seg;         /* the handle, holding the lock (also with SHMAP_EOWNERDEAD) */
    char detail[1024];      /* the library's message when it failed */
    char holders[512];      /* who held the lock, for -ETIMEDOUT and -EBUSY */
} hold_args;

static int hold_call(void *ctx, double timeout_s)
{
    hold_args *a = ctx;
    int rc = a->fd >= 0 ? shmap_open_fd(&a->seg, a->fd, a->flags)
                        : shmap_open(&a->seg, a->name, a->flags);
    if (rc == 0)
        rc = shmap_lock(a->seg, (a->flags & SHMAP_RDWR) ? SHMAP_LOCK_EXCLUSIVE
                                                         : SHMAP_LOCK_SHARED, timeout_s);
    if (rc < 0)
        detail_copy(rc, a->detail, sizeof a->detail);
    if (a->seg && (rc == -ETIMEDOUT || rc == -EBUSY))
        shmap_lock_holders(a->seg, a->holders, sizeof a->holders);
    if (a->seg && rc < 0 && rc != SHMAP_EOWNERDEAD) {
        shmap_close(a->seg);
        a->seg = NULL;
    }
    return rc;
}

/* open() and open_fd() with hold=True: a Segment holding the lock, or NULL with an
 * exception. @p fd >= 0 opens the segment behind it, @p name then naming it in messages. */
static PyObject *open_held(const char *name, int fd, int readonly, double timeout)
{
    hold_args *a = PyMem_Calloc(1, sizeof *a);
    if (!a)
        return PyErr_NoMemory();
    a->name = name;
    a->fd = fd;
    a->flags = readonly ? SHMAP_RDONLY : SHMAP_RDWR;
    int rc = blocking(hold_call, a, timeout, NULL);
    PyObject *res = NULL;
    const char *what = readonly ? "the shared lock" : "the exclusive lock";
    if (rc == BLOCKING_PYERR) {
        /* A signal handler raised: the wait ended and its handle was closed, unless the
         * open had already succeeded when the handler ran. */
        if (a->seg)
            close_handle(a->seg, 0);
    } else if (rc == -ETIMEDOUT) {
        char w[64];
        snprintf(w, sizeof w, "%s (hold=True)", what);
        raise_timeout(name, timeout, w, a->holders);
    } else if (rc == -EBUSY) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s: %s is not free (hold=True, timeout=0 does not wait)%s%s",
                 name, what, *a->holders ? ": " : "", a->holders);
        raise_text(PyExc_BlockingIOError, rc, name, msg);
    } else if (rc < 0 && rc != SHMAP_EOWNERDEAD) {
        raise_text(NULL, rc, name, a->detail);
    } else if ((res = segment_wrap(a->seg, NULL))) {
        SegmentObject *self = (SegmentObject *)res;
        self->held = 1;
        self->held_pid = this_pid();
        if (fd >= 0 && keep_descriptor(self, fd) < 0) {
            Py_CLEAR(res); /* closing it lets go of the hold */
            PyMem_Free(a);
            return NULL;
        }
        /* The lock is ours, and the data may be half-written: say so, but do not raise
         * unless warnings are errors, and then let go of the hold as Segment.lock() does,
         * leaving the news for the next writer. */
        if (rc == SHMAP_EOWNERDEAD && PyErr_WarnEx(OwnerDiedWarning, a->detail, 1) < 0) {
            if (shmap_unlock_inconsistent(self->seg) == 0)
                self->held = 0;
            Py_CLEAR(res);
        }
    }
    PyMem_Free(a);
    return res;
}

/*
 * The access open() and open_fd() ask for: readonly (default True), private and hold, and
 * the timeout of a hold; 0, or -1 with TypeError or ValueError.
 */
static int open_access(PyObject *readonly_obj, int priv, int hold, PyObject *timeout_obj,
                       int *readonly, unsigned *flags, double *timeout)
{
    *timeout = -1;
    if (timeout_obj && timeout_obj != Py_None && !hold) {
        PyErr_SetString(PyExc_TypeError, "timeout is how long hold=True waits for the lock: "
                                         "give hold=True too");
        return -1;
    }
    if (timeout_obj && timeout_from_py(timeout_obj, timeout) < 0)
        return -1;
    /* None is "not given", as a wrapper passing its own default on means it: read-only. */
    if (readonly_obj == Py_None)
        readonly_obj = NULL;
    *readonly = readonly_obj ? PyObject_IsTrue(readonly_obj) : 1;
    if (*readonly < 0)
        return -1;
    if (priv && readonly_obj && *readonly) {
        PyErr_SetString(PyExc_ValueError, "private=True maps a writable copy: readonly=True "
                                          "contradicts it");
        return -1;
    }
    if (hold && priv) {
        PyErr_SetString(PyExc_ValueError, "hold=True is refused with private=True: holding the "
                                          "segment's lock while open needs write access, which "
                                          "a private open does not ask for (take it with "
                                          "Segment.lock() if this user may write the segment)");
        return -1;
    }
    *flags = priv ? SHMAP_PRIVATE : *readonly ? SHMAP_RDONLY : SHMAP_RDWR;
    return 0;
}

/* The offset of a raw mapping (@p raw: dtype and shape or a template were given); 0 when
 * @p obj is NULL or None; -1 with ValueError or TypeError. */
static int offset_from_py(PyObject *obj, int raw, unsigned long long *out)
{
    *out = 0;
    if (!obj || obj == Py_None)
        return 0;
    PyObject *index = PyNumber_Index(obj);
    if (!index)
        return -1;
    *out = PyLong_AsUnsignedLongLong(index);
    Py_DECREF(index);
    if (*out == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "offset must be a byte offset, 0 to 2**64-1, not %R", obj);
        return -1;
    }
    if (*out && !raw) {
        PyErr_SetString(PyExc_TypeError, "offset is for raw mappings: give dtype and shape (or "
                                         "a template) too");
        return -1;
    }
    return 0;
}

/* The Segment of an open that returned `rc` (raising for a failure, in which case `descr`
 * is released), private when asked for. */
static PyObject *opened(int rc, shmap_seg *seg, PyArray_Descr *descr, int priv,
                        const char *who)
{
    if (rc < 0) {
        Py_XDECREF(descr);
        return raise_lib(rc, who);
    }
    PyObject *res = segment_wrap(seg, descr);
    if (res)
        ((SegmentObject *)res)->priv = priv;
    return res;
}

static PyObject *mod_open(PyObject *module, PyObject *args, PyObject *kwargs)
{
    (void)module;
    static char *kwlist[] = {"name", "readonly", "dtype", "shape", "offset", "private",
                             "template", "hold", "timeout", NULL};
    PyObject *name_obj, *readonly_obj = NULL, *dtype_obj = Py_None, *shape_obj = Py_None;
    PyObject *offset_obj = NULL, *template = Py_None, *timeout_obj = NULL;
    int priv = 0, hold = 0, readonly;
    unsigned flags;
    double timeout;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O$OOOpOpO:open", kwlist, &name_obj,
                                     &readonly_obj, &dtype_obj, &shape_obj, &offset_obj, &priv,
                                     &template, &hold, &timeout_obj))
        return NULL;
    if (open_access(readonly_obj, priv, hold, timeout_obj, &readonly, &flags, &timeout) < 0)
        return NULL;
    char name[SHMAP_NAME_MAX];
    if (name_arg(name_obj, "name", name) < 0)
        return NULL;
    int raw = dtype_obj != Py_None || shape_obj != Py_None || template != Py_None;
    if (hold && raw)
        return PyErr_Format(PyExc_ValueError, "hold=True takes the segment's lock, which a raw "
                                              "mapping does not have (no header)");
    unsigned long long offset;
    if (offset_from_py(offset_obj, raw, &offset) < 0)
        return NULL;
    shmap_seg *seg;
    int rc;
    if (hold)
        return open_held(name, -1, readonly, timeout);
    if (!raw) {
        Py_BEGIN_ALLOW_THREADS
        rc = shmap_open(&seg, name, flags);
        Py_END_ALLOW_THREADS
        return opened(rc, seg, NULL, priv, name);
    }
    raw_array *ra = PyMem_Malloc(sizeof *ra);
    if (!ra)
        return PyErr_NoMemory();
    if (raw_array_from_py(name, dtype_obj, shape_obj, template, ra) < 0) {
        PyMem_Free(ra);
        return NULL;
    }
    shmap_raw_opts opts = SHMAP_RAW_OPTS_INIT;
    opts.flags = flags;
    opts.offset = offset;
    opts.record_fields = ra->dtype == SHMAP_RECORD ? ra->fields : NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = shmap_open_raw(&seg, name, ra->dtype, ra->ndim, ra->dims, &opts);
    Py_END_ALLOW_THREADS
    PyArray_Descr *descr = ra->descr;
    PyMem_Free(ra);
    return opened(rc, seg, descr, priv, name);
}

static PyObject *mod_open_fd(PyObject *module, PyObject *args, PyObject *kwargs)
{
    (void)module;
    static char *kwlist[] = {"fd", "readonly", "private", "hold", "timeout", NULL};
    PyObject *fd_obj, *readonly_obj = NULL, *timeout_obj = NULL;
    int priv = 0, hold = 0, readonly;
    unsigned flags;
    double timeout;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O$ppO:open_fd", kwlist, &fd_obj,
                                     &readonly_obj, &priv, &hold, &timeout_obj) ||
        open_access(readonly_obj, priv, hold, timeout_obj, &readonly, &flags, &timeout) < 0)
        return NULL;
    int fd = PyObject_AsFileDescriptor(fd_obj); /* an int, or an object with fileno() */
    if (fd < 0)
        return NULL;
    char label[48]; /* what messages call it until the segment is open */
    snprintf(label, sizeof label, "descriptor %d", fd);
    if (hold)
        return open_held(label, fd, readonly, timeout);
    shmap_seg *seg;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = shmap_open_fd(&seg, fd, flags);
    Py_END_ALLOW_THREADS
    PyObject *res = opened(rc, seg, NULL, priv, label);
    if (res && keep_descriptor((SegmentObject *)res, fd) < 0)
        Py_CLEAR(res);
    return res;
}

typedef struct {
    const char *name;
    unsigned flags;
} delete_args;

static int delete_call(void *ctx, double timeout_s)
{
    delete_args *a = ctx;
    return shmap_delete(a->name, timeout_s, a->flags);
}

/*
 * Does this interpreter run one thread? A delete() inside a lock this process holds waits
 * for itself unless another thread lets go. The library counts the process's threads, and
 * an interpreter has threads that hold no shmap lock and never will (faulthandler's watchdog,
 * a BLAS pool); the locks of this module are held by Python threads only, so with one of
 * them the binding tells the library no other thread will let go (SHMAP_DELETE_NOT_MINE).
 */
static int interpreter_alone(void)
{
    PyThreadState *t = PyInterpreterState_ThreadHead(PyInterpreterState_Get());
    return t && !PyThreadState_Next(t);
}

static PyObject *mod_delete(PyObject *module, PyObject *args, PyObject *kwargs)
{
    (void)module;
    static char *kwlist[] = {"name", "timeout", "force", "locked", NULL};
    PyObject *name_obj, *timeout_obj = Py_None;
    int force = 0, locked = 0;
    double timeout;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|$Opp:delete", kwlist, &name_obj,
                                     &timeout_obj, &force, &locked) ||
        timeout_from_py(timeout_obj, &timeout) < 0)
        return NULL;
    char name[SHMAP_NAME_MAX];
    if (name_arg(name_obj, "name", name) < 0)
        return NULL;
    int rc;
    if (force) {
        Py_BEGIN_ALLOW_THREADS
        rc = shmap_delete(name, 0, SHMAP_DELETE_FORCE);
        Py_END_ALLOW_THREADS
    } else {
        /* Under a hold of ours nothing is waited for: no other thread need let go. */
        delete_args a = {name, locked               ? SHMAP_DELETE_LOCKED
                               : interpreter_alone() ? SHMAP_DELETE_NOT_MINE
                                                     : 0};
        rc = blocking(delete_call, &a, timeout, NULL);
    }
    if (rc == BLOCKING_PYERR)
        return NULL;
    if (rc == -ETIMEDOUT || rc == -EBUSY) {
        /* Say who holds it, as a lock's timeout does. A read-only mapping of this process
         * left unmap-pending refuses the open that asks: the library's detail, which names
         * the holders the deletion saw, is then raised as it is. */
        char holders[512] = "", msg[SHMAP_NAME_MAX + 600], detail[1024];
        snprintf(detail, sizeof detail, "%s", shmap_last_error());
        shmap_seg *seg;
        int orc;
        Py_BEGIN_ALLOW_THREADS
        orc = shmap_open(&seg, name, SHMAP_RDONLY);
        if (orc == 0) {
            shmap_lock_holders(seg, holders, sizeof holders);
            shmap_close(seg);
        }
        Py_END_ALLOW_THREADS
        if (orc == SHMAP_EPENDING)
            return raise_text(rc == -ETIMEDOUT ? PyExc_TimeoutError : PyExc_BlockingIOError,
                              rc, name, detail);
        /* The library's hint when the holder runs this process, which waits for it in vain
         * (its flag is locked=True here). */
        if (*holders && strstr(detail, "SHMAP_DELETE_LOCKED"))
            snprintf(holders + strlen(holders), sizeof holders - strlen(holders),
                     " (an ancestor of this process: to delete under its hold, pass "
                     "locked=True)");
        if (rc == -ETIMEDOUT)
            return raise_timeout(name, timeout, "exclusive access to delete it", holders);
        snprintf(msg, sizeof msg, "%s: in use (timeout=0 does not wait)%s%s", name,
                 *holders ? ": " : "", holders);
        return raise_text(PyExc_BlockingIOError, rc, name, msg);
    }
    if (rc < 0)
        return raise_lib(rc, name);
    Py_RETURN_NONE;
}

/* chmod(), chown() and perm() are quick system calls that never wait: they keep the GIL. */
static PyObject *mod_chmod(PyObject *module, PyObject *args, PyObject *kwargs)
{
    (void)module;
    static char *kwlist[] = {"name", "mode", NULL};
    PyObject *name_obj, *mode_obj;
    long long mode;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO:chmod", kwlist, &name_obj, &mode_obj))
        return NULL;
    char name[SHMAP_NAME_MAX];
    /* Within an unsigned int the library says what is wrong with a mode (set-id bits...). */
    if (name_arg(name_obj, "name", name) < 0 ||
        int_arg(mode_obj, "mode", 0, UINT_MAX, 1, "is not a mode (permission bits, 0 to 0o777)",
                &mode) < 0)
        return NULL;
    int rc = shmap_chmod(name, (unsigned)mode);
    if (rc < 0)
        return raise_lib(rc, name);
    Py_RETURN_NONE;
}

static PyObject *mod_chown(PyObject *module, PyObject *args, PyObject *kwargs)
{
    (void)module;
    static char *kwlist[] = {"name", "uid", "gid", NULL};
    PyObject *name_obj, *uid_obj = NULL, *gid_obj = NULL;
    long long uid = -1, gid = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OO:chown", kwlist, &name_obj, &uid_obj,
                                     &gid_obj))
        return NULL;
    char name[SHMAP_NAME_MAX];
    if (name_arg(name_obj, "name", name) < 0 ||
        (uid_obj && int_arg(uid_obj, "uid", -1, (uid_t)-1 - 1, 0,
                            "is not a user id (0 to 4294967294, or -1 to keep the owner)",
                            &uid) < 0) ||
        (gid_obj && int_arg(gid_obj, "gid", -1, (gid_t)-1 - 1, 0,
                            "is not a group id (0 to 4294967294, or -1 to keep the group)",
                            &gid) < 0))
        return NULL;
    int rc = shmap_chown(name, (uid_t)uid, (gid_t)gid);
    if (rc < 0)
        return raise_lib(rc, name);
    Py_RETURN_NONE;
}

static PyTypeObject Perm_Type;

static PyStructSequence_Field perm_fields[] = {
    {"mode", perm_mode_doc},
    {"uid", perm_uid_doc},
    {"gid", perm_gid_doc},
    {NULL, NULL},
};

static PyStructSequence_Desc perm_desc = {"shmap.Perm", perm_tuple_doc, perm_fields, 3};

static int seq_put(PyObject *seq, Py_ssize_t i, PyObject *value);

/* perm(): the kernel's mode and owner of whatever the name picks, read without opening it. */
static PyObject *mod_perm(PyObject *module, PyObject *args, PyObject *kwargs)
{
    (void)module;
    static char *kwlist[] = {"name", NULL};
    PyObject *name_obj;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:perm", kwlist, &name_obj))
        return NULL;
    char name[SHMAP_NAME_MAX];
    if (name_arg(name_obj, "name", name) < 0)
        return NULL;
    unsigned mode;
    uid_t uid;
    gid_t gid;
    int rc = shmap_perm_get(name, &mode, &uid, &gid);
    if (rc < 0)
        return raise_lib(rc, name);
    PyObject *res = PyStructSequence_New(&Perm_Type);
    if (res && (seq_put(res, 0, PyLong_FromUnsignedLong(mode)) < 0 ||
                seq_put(res, 1, PyLong_FromUnsignedLong((unsigned long)uid)) < 0 ||
                seq_put(res, 2, PyLong_FromUnsignedLong((unsigned long)gid)) < 0))
        Py_CLEAR(res);
    return res;
}

/* What info() reads without the GIL: the description, the keywords and the attach state. */
typedef struct {
    shmap_info info;
    shmap_keyword *kw;
    int nkw; /* < 0: keywords not readable */
    shmap_attacher *att;
    int natt;
    shmap_lockinfo li;
    int has_li; /* li was read */
    mapped_set mapped;
} described;

/* Describe a segment by name, opened read-only (@p flags: SHMAP_RDONLY, or SHMAP_PRIVATE,
 * with SHMAP_DELETED to describe a System V segment deleted while attached, as `shmap
 * info` does) for its keywords and attach table (as `shmap info` reads them). */
static int describe(const char *name, unsigned flags, described *out)
{
    shmap_seg *seg;
    out->kw = NULL;
    out->nkw = -1;
    out->att = NULL;
    out->natt = 0;
    out->has_li = 0;
    out->mapped = (mapped_set)MAPPED_SET_INIT;
    int rc = shmap_open(&seg, name, flags);
    if (rc == SHMAP_EPENDING)
        return shmap_stat(name, &out->info); /* keywords unreadable here, but it exists */
    if (rc < 0)
        return rc;
    rc = shmap_info_get(seg, &out->info);
    if (rc == 0)
        out->nkw = shmap_keyword_list_alloc(seg, &out->kw);
    if (rc == 0 && (out->natt = shmap_attached_alloc(seg, &out->att)) < 0)
        out->natt = 0;
    if (rc == 0)
        out->has_li = shmap_lock_info(seg, &out->li) == 0;
    if (rc == 0)
        mapped_find(seg, &out->mapped);
    shmap_close(seg);
    return rc;
}

/*
 * info() with dtype and shape (or a template): what `shmap info NAME --dtype T --shape S
 * [--offset B] [--private] --json` prints, from a raw mapping made for the call.
 */
static PyObject *info_raw(const char *name, PyObject *dtype_obj, PyObject *shape_obj,
                          PyObject *template, unsigned long long offset, int priv)
{
    raw_array *ra = PyMem_Malloc(sizeof *ra);
    shmap_info *info = PyMem_Malloc(sizeof *info);
    PyObject *res = NULL;
    if (!ra || !info) {
        PyMem_Free(ra);
        PyMem_Free(info);
        return PyErr_NoMemory();
    }
    if (raw_array_from_py(name, dtype_obj, shape_obj, template, ra) == 0) {
        shmap_raw_opts opts = SHMAP_RAW_OPTS_INIT;
        opts.flags = (priv ? SHMAP_PRIVATE : SHMAP_RDONLY) | SHMAP_DELETED;
        opts.offset = offset;
        opts.record_fields = ra->dtype == SHMAP_RECORD ? ra->fields : NULL;
        shmap_seg *seg;
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = shmap_open_raw(&seg, name, ra->dtype, ra->ndim, ra->dims, &opts);
        if (rc == 0) {
            rc = shmap_info_get(seg, info);
            shmap_close(seg);
        }
        Py_END_ALLOW_THREADS
        res = rc < 0 ? raise_lib(rc, name) : raw_info_dict(info, priv, ra->descr);
        Py_DECREF(ra->descr);
    }
    PyMem_Free(info);
    PyMem_Free(ra);
    return res;
}

static PyObject *mod_info(PyObject *module, PyObject *args, PyObject *kwargs)
{
    (void)module;
    static char *kwlist[] = {"name", "dtype", "shape", "offset", "private", "template", NULL};
    PyObject *name_obj, *dtype_obj = Py_None, *shape_obj = Py_None, *offset_obj = NULL;
    PyObject *template = Py_None;
    int priv = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|$OOOpO:info", kwlist, &name_obj,
                                     &dtype_obj, &shape_obj, &offset_obj, &priv, &template))
        return NULL;
    char name[SHMAP_NAME_MAX];
    if (name_arg(name_obj, "name", name) < 0)
        return NULL;
    int raw = dtype_obj != Py_None || shape_obj != Py_None || template != Py_None;
    unsigned long long offset;
    if (offset_from_py(offset_obj, raw, &offset) < 0)
        return NULL;
    if (raw)
        return info_raw(name, dtype_obj, shape_obj, template, offset, priv);
    described *d = PyMem_Malloc(sizeof *d);
    if (!d)
        return PyErr_NoMemory();
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = describe(name, (priv ? SHMAP_PRIVATE : SHMAP_RDONLY) | SHMAP_DELETED, d);
    Py_END_ALLOW_THREADS
    PyObject *res = rc < 0 ? raise_lib(rc, name)
                           : info_dict(&d->info, d->kw, d->nkw, d->att, d->natt,
                                       d->has_li ? &d->li : NULL, &d->mapped, NULL);
    free(d->mapped.list);
    free(d->kw);
    free(d->att);
    PyMem_Free(d);
    return res;
}

static PyObject *mod_list(PyObject *module, PyObject *args, PyObject *kwargs)
{
    (void)module;
    static char *kwlist[] = {"all", NULL};
    int all = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|p:list", kwlist, &all))
        return NULL;
    shmap_entry *list = NULL;
    size_t n = 0;
    int rc;
    /* The keywords come with the listing, read with each header: no segment is opened. */
    Py_BEGIN_ALLOW_THREADS
    rc = shmap_list(&list, &n, (all ? SHMAP_LIST_ALL : 0) | SHMAP_LIST_KEYWORDS);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        return raise_lib(rc, NULL);
    id_names ids = {PyDict_New(), PyDict_New()};
    PyObject *res = ids.users && ids.groups ? PyList_New((Py_ssize_t)n) : NULL;
    for (size_t i = 0; res && i < n; i++) {
        const shmap_entry *e = &list[i];
        int nkw = e->keywords_status < 0 ? -1 : (int)e->nkeywords;
        PyObject *d = e->status == 0 ? info_dict(&e->info, e->keywords, nkw, e->attachers,
                                                 (int)e->nattachers, &e->lock, NULL, &ids)
                                     : foreign_dict(e, &ids);
        if (!d)
            Py_CLEAR(res);
        else
            PyList_SET_ITEM(res, (Py_ssize_t)i, d);
    }
    Py_XDECREF(ids.users);
    Py_XDECREF(ids.groups);
    shmap_list_free(list);
    return res;
}

/*
 * check_name(): the store a name picks, or why it is no name. It answers for a name a user
 * typed, so every way a name can be wrong is shmap.ArgumentError (EBADNAME), including the
 * one that name_arg() raises as UnicodeEncodeError, as the os module does, before the
 * library sees the name: a str the file-system encoding cannot encode. A wrong Python type
 * stays a TypeError.
 */
static PyObject *mod_check_name(PyObject *module, PyObject *args, PyObject *kwargs)
{
    (void)module;
    static char *kwlist[] = {"name", NULL};
    PyObject *name_obj;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:check_name", kwlist, &name_obj))
        return NULL;
    char name[SHMAP_NAME_MAX];
    if (name_arg(name_obj, "name", name) < 0) {
        if (!PyErr_ExceptionMatches(PyExc_ValueError) || PyErr_ExceptionMatches(ArgumentError))
            return NULL;
        PyObject *type, *exc, *tb;
        PyErr_Fetch(&type, &exc, &tb);
        PyErr_NormalizeException(&type, &exc, &tb);
        PyObject *text = exc ? PyObject_Str(exc) : NULL;
        const char *utf8 = text ? PyUnicode_AsUTF8(text) : NULL;
        if (utf8)
            raise_text(ArgumentError, SHMAP_EBADNAME, NULL, utf8);
        Py_XDECREF(text);
        Py_XDECREF(type);
        Py_XDECREF(exc);
        Py_XDECREF(tb);
        return NULL;
    }
    shmap_store store;
    int rc = shmap_name_check(name, &store);
    if (rc < 0)
        return raise_lib(rc, name);
    return PyUnicode_FromString(shmap_store_name(store));
}

static PyObject *mod_unique_name(PyObject *module, PyObject *args, PyObject *kwargs)
{
    (void)module;
    static char *kwlist[] = {"prefix", NULL};
    PyObject *prefix_obj = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:unique_name", kwlist, &prefix_obj))
        return NULL;
    char prefix_buf[SHMAP_NAME_MAX];
    const char *prefix = NULL;
    if (prefix_obj != Py_None) {
        if (name_arg(prefix_obj, "prefix", prefix_buf) < 0)
            return NULL;
        prefix = prefix_buf;
    }
    /* Unique names are POSIX shared-memory names: the library checks the prefix is a name
     * but then probes it with shm_open, so a file or System V prefix came back as a bare
     * EINVAL from that probe. Say what is wrong with it instead. */
    shmap_store store = SHMAP_STORE_POSIX;
    int rc = prefix ? shmap_name_check(prefix, &store) : 0;
    if (rc < 0)
        return raise_lib(rc, prefix);
    if (store != SHMAP_STORE_POSIX) {
        char msg[SHMAP_NAME_MAX + 160];
        snprintf(msg, sizeof msg, "prefix '%s' names a %s segment: unique_name() makes POSIX "
                 "shared-memory names only (a prefix such as 'frames')", prefix,
                 shmap_store_name(store));
        return raise_text(ArgumentError, SHMAP_EBADNAME, NULL, msg);
    }
    char buf[SHMAP_NAME_MAX];
    rc = shmap_name_unique(buf, sizeof buf, prefix);
    if (rc < 0)
        return raise_lib(rc, prefix);
    return name_to_py(buf);
}

static PyObject *mod_mappings(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    shmap_mapping *maps;
    size_t n;
    int rc = shmap_mappings(&maps, &n);
    if (rc < 0)
        return raise_lib(rc, NULL);
    PyObject *res = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; res && i < n; i++) {
        const shmap_mapping *m = &maps[i];
        const shmap_info *in = &m->info;
        PyObject *d = PyDict_New();
        if (!d || put(d, "name", name_to_py(in->name)) < 0 ||
            put(d, "store", PyUnicode_FromString(shmap_store_name(in->store))) < 0 ||
            put(d, "os_handle", name_to_py(in->os_handle)) < 0 ||
            put(d, "dtype", PyUnicode_FromString(shmap_dtype_name(in->dtype))) < 0 ||
            put(d, "numpy", str_or_none(shmap_dtype_numpy(in->dtype))) < 0 ||
            put(d, "record_fields",
                str_or_none(in->dtype == SHMAP_RECORD ? in->record_fields : NULL)) < 0 ||
            put(d, "shape", shape_list(in)) < 0 ||
            put(d, "bytes", PyLong_FromUnsignedLongLong(in->data_size)) < 0 ||
            put(d, "offset", PyLong_FromUnsignedLongLong(m->offset)) < 0 ||
            put(d, "refs", PyLong_FromUnsignedLong(m->refs)) < 0 ||
            put(d, "pending", PyBool_FromLong(m->pending)) < 0 ||
            put(d, "writable", PyBool_FromLong(m->writable)) < 0 ||
            put(d, "destroy", PyBool_FromLong(m->destroy)) < 0) {
            Py_XDECREF(d);
            Py_CLEAR(res);
            break;
        }
        PyList_SET_ITEM(res, (Py_ssize_t)i, d);
    }
    shmap_mappings_free(maps);
    return res;
}

/*
 * gc(): shmap_gc() with the GIL released. The callback runs in the walk and may not touch
 * Python objects, so it copies each event, with the library's detail for a failed or kept
 * one (thread-local, read in the thread that walks), into an array the GcEvents are made
 * from afterwards.
 */
typedef struct {
    shmap_gc_event ev;
    char message[SHMAP_NAME_MAX + 256]; /* "" for an event that succeeded */
} gc_record;

typedef struct {
    gc_record *recs;
    size_t n, cap;
    int out_of_memory; /* the callback stopped the walk: no room for another record */
} gc_records;

static int gc_collect(const shmap_gc_event *ev, void *ctx)
{
    gc_records *g = ctx;
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 16;
        gc_record *recs = realloc(g->recs, cap * sizeof *recs);
        if (!recs) {
            g->out_of_memory = 1;
            return -ENOMEM;
        }
        g->recs = recs;
        g->cap = cap;
    }
    gc_record *r = &g->recs[g->n++];
    r->ev = *ev;
    r->message[0] = '\0';
    if (ev->status != 0) {
        /* The detail of this event names its object; one that does not is an older one. */
        const char *detail = shmap_last_error();
        if (detail && *detail && mentions(detail, ev->name))
            snprintf(r->message, sizeof r->message, "%s", detail);
        else
            snprintf(r->message, sizeof r->message, "%s: %s", ev->name,
                     shmap_strerror(ev->status));
    }
    return 0;
}

/* The action of an event in the words of `shmap gc`'s lines. */
static const char *gc_action_name(const gc_record *r)
{
    /* Not a failure: kept, as the detail says ("NAME: kept: ...": processes this user
     * cannot inspect may map it, or this user may not remove it), which tells it from a
     * removal that failed with the same code. */
    const shmap_gc_event *ev = &r->ev;
    size_t len = strlen(ev->name);
    int kept = ev->status < 0 && strncmp(r->message, ev->name, len) == 0 &&
               strncmp(r->message + len, ": kept: ", 8) == 0;
    switch (ev->action) {
    case SHMAP_GC_REMOVED_TRANSIENT:
        return kept ? "kept_transient" : "removed_transient";
    case SHMAP_GC_CLEARED_SLOTS:
        /* Kept: a System V segment too large for this process to attach and look at. */
        return kept ? "kept_unattached" : "cleared_slots";
    case SHMAP_GC_REMOVED_TMP:
        /* System V has no hidden names: its creations that never completed keep their key. */
        if (strncmp(ev->name, "sysv://", 7) == 0)
            return kept ? "kept_unfinished" : "removed_unfinished";
        return kept ? "kept_leftover" : "removed_leftover";
    }
    return "unknown";
}

static PyTypeObject GcEvent_Type;

static PyStructSequence_Field gc_event_fields[] = {
    {"action", gc_event_action_doc},
    {"name", gc_event_name_doc},
    {"pid", gc_event_pid_doc},
    {"slots", gc_event_slots_doc},
    {"size", gc_event_size_doc},
    {"dry_run", gc_event_dry_run_doc},
    {"status", gc_event_status_doc},
    {"message", gc_event_message_doc},
    {NULL, NULL},
};

static PyStructSequence_Desc gc_event_desc = {"shmap.GcEvent", gc_event_doc, gc_event_fields,
                                              8};

/* Set item @p i of a new struct sequence, stealing @p value; -1 if it is NULL (failed). */
static int seq_put(PyObject *seq, Py_ssize_t i, PyObject *value)
{
    if (!value)
        return -1;
    PyStructSequence_SET_ITEM(seq, i, value);
    return 0;
}

static PyObject *gc_event_object(const gc_record *r)
{
    const shmap_gc_event *ev = &r->ev;
    PyObject *res = PyStructSequence_New(&GcEvent_Type);
    if (res &&
        (seq_put(res, 0, PyUnicode_FromString(gc_action_name(r))) < 0 ||
         seq_put(res, 1, name_to_py(ev->name)) < 0 ||
         seq_put(res, 2, pid_or_none(ev->action == SHMAP_GC_CLEARED_SLOTS ? 0 : ev->pid)) < 0 ||
         seq_put(res, 3, PyLong_FromUnsignedLong(ev->slots)) < 0 ||
         seq_put(res, 4, PyLong_FromUnsignedLongLong(ev->size)) < 0 ||
         seq_put(res, 5, PyBool_FromLong(ev->dry_run)) < 0 ||
         seq_put(res, 6, PyLong_FromLong(ev->status)) < 0 ||
         seq_put(res, 7, r->message[0] ? PyUnicode_DecodeFSDefault(r->message)
                                       : Py_NewRef(Py_None)) < 0))
        Py_CLEAR(res);
    return res;
}

static PyObject *mod_gc(PyObject *module, PyObject *args, PyObject *kwargs)
{
    (void)module;
    static char *kwlist[] = {"prefix", "dry_run", NULL};
    PyObject *prefix_obj = Py_None;
    int dry_run = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O$p:gc", kwlist, &prefix_obj, &dry_run))
        return NULL;
    char prefix_buf[SHMAP_NAME_MAX];
    const char *prefix = NULL;
    if (prefix_obj != Py_None) {
        if (name_arg(prefix_obj, "prefix", prefix_buf) < 0)
            return NULL;
        prefix = prefix_buf;
    }
    gc_records g = {NULL, 0, 0, 0};
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = shmap_gc(prefix, dry_run ? SHMAP_GC_DRY_RUN : 0, gc_collect, &g);
    Py_END_ALLOW_THREADS
    PyObject *res = NULL;
    if (g.out_of_memory)
        PyErr_NoMemory();
    else if (rc < 0)
        /* The walk itself failed ("cannot list /dev/shm: ..."), or stopped for want of
         * descriptors or memory ("too many open files: cannot open /dev/shm/NAME ..."). */
        raise_lib(rc, NULL);
    else
        res = PyList_New((Py_ssize_t)g.n);
    for (size_t i = 0; res && i < g.n; i++) {
        PyObject *ev = gc_event_object(&g.recs[i]);
        if (!ev)
            Py_CLEAR(res);
        else
            PyList_SET_ITEM(res, (Py_ssize_t)i, ev);
    }
    free(g.recs);
    return res;
}

static PyObject *mod_parse_dtype(PyObject *module, PyObject *arg)
{
    (void)module;
    shmap_dtype dt;
    char fields[SHMAP_RECORD_FIELDS_MAX];
    if (dtype_from_py(arg, &dt, fields) < 0)
        return NULL;
    return (PyObject *)descr_of_parsed(dt, fields);
}

/* Same segment? The creator and the creation time identify it across names. */
static int same_segment(const shmap_info *a, const shmap_info *b)
{
    return strcmp(a->os_handle, b->os_handle) == 0 && a->created_ns == b->created_ns &&
           a->creator_pid == b->creator_pid;
}

static PyObject *mod_atexit(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    abandon_waits();
    while (segments_head)
        segment_release(LIST_ENTRY(segments_head, SegmentObject, link), 0);
    if (!refs_head)
        Py_RETURN_NONE;
    /*
     * Arrays and buffers still map some segments. The process is going, and with it every
     * mapping: a segment it created without keep= must go too. Each is destroyed once: its
     * destroy flag is cleared (so the arrays' late closes do nothing) and its name removed,
     * if the name still holds the same segment.
     */
    shmap_mapping *maps;
    size_t n;
    if (shmap_mappings(&maps, &n) < 0) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    shmap_info *info = PyMem_Malloc(2 * sizeof *info);
    for (list_link *l = refs_head; info && l; l = l->next) {
        ref_node *r = LIST_ENTRY(l, ref_node, link);
        if (shmap_info_get(r->seg, &info[0]) < 0)
            continue;
        for (size_t i = 0; i < n; i++) {
            if (!maps[i].destroy || !maps[i].writable != !shmap_writable(r->seg) ||
                !same_segment(&maps[i].info, &info[0]))
                continue;
            maps[i].destroy = 0;
            shmap_set_destroy(r->seg, 0);
            if (shmap_stat(info[0].name, &info[1]) == 0 && same_segment(&info[0], &info[1]))
                shmap_unlink(info[0].name);
        }
    }
    PyMem_Free(info);
    shmap_mappings_free(maps);
    Py_RETURN_NONE;
}

static PyObject *mod_gil_checks(PyObject *module, PyObject *noargs)
{
    (void)module;
    (void)noargs;
    return PyLong_FromUnsignedLong(__atomic_load_n(&gil_checks, __ATOMIC_RELAXED));
}

static PyMethodDef module_methods[] = {
    {"create", (PyCFunction)(void (*)(void))mod_create, METH_VARARGS | METH_KEYWORDS,
     create_doc},
    {"open", (PyCFunction)(void (*)(void))mod_open, METH_VARARGS | METH_KEYWORDS, open_doc},
    {"open_fd", (PyCFunction)(void (*)(void))mod_open_fd, METH_VARARGS | METH_KEYWORDS,
     open_fd_doc},
    {"delete", (PyCFunction)(void (*)(void))mod_delete, METH_VARARGS | METH_KEYWORDS,
     delete_doc},
    {"chmod", (PyCFunction)(void (*)(void))mod_chmod, METH_VARARGS | METH_KEYWORDS, chmod_doc},
    {"chown", (PyCFunction)(void (*)(void))mod_chown, METH_VARARGS | METH_KEYWORDS, chown_doc},
    {"perm", (PyCFunction)(void (*)(void))mod_perm, METH_VARARGS | METH_KEYWORDS, perm_doc},
    {"list", (PyCFunction)(void (*)(void))mod_list, METH_VARARGS | METH_KEYWORDS, list_doc},
    {"info", (PyCFunction)(void (*)(void))mod_info, METH_VARARGS | METH_KEYWORDS, info_doc},
    {"unique_name", (PyCFunction)(void (*)(void))mod_unique_name, METH_VARARGS | METH_KEYWORDS,
     unique_name_doc},
    {"check_name", (PyCFunction)(void (*)(void))mod_check_name, METH_VARARGS | METH_KEYWORDS,
     check_name_doc},
    {"mappings", mod_mappings, METH_NOARGS, mappings_doc},
    {"gc", (PyCFunction)(void (*)(void))mod_gc, METH_VARARGS | METH_KEYWORDS, gc_doc},
    {"parse_dtype", mod_parse_dtype, METH_O, parse_dtype_doc},
    {"_atexit", mod_atexit, METH_NOARGS, atexit_doc},
    {"_gil_checks", mod_gil_checks, METH_NOARGS, gil_checks_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef shmap_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "shmap",
    .m_doc = module_doc,
    .m_size = -1,
    .m_methods = module_methods,
};

/*
 * shmap.Error.__reduce__: OSError keeps errno in a slot, which its pickle rebuilds from the
 * arguments alone, and the library's codes are not among the arguments (the message is):
 * a pool of processes returning the exception lost it. The state given back holds errno
 * beside the instance's attributes (code, errname), and unpickling sets each again.
 */
static PyObject *error_reduce(PyObject *self, PyObject *unused)
{
    (void)unused;
    PyObject *args = PyObject_GetAttrString(self, "args");
    PyObject *dict = args ? PyObject_GenericGetDict(self, NULL) : NULL;
    PyObject *state = dict ? PyDict_Copy(dict) : NULL;
    PyObject *err = state ? PyObject_GetAttrString(self, "errno") : NULL;
    PyObject *res = NULL;
    if (err && PyDict_SetItemString(state, "errno", err) == 0)
        res = PyTuple_Pack(3, (PyObject *)Py_TYPE(self), args, state);
    Py_XDECREF(err);
    Py_XDECREF(state);
    Py_XDECREF(dict);
    Py_XDECREF(args);
    return res;
}

static PyMethodDef error_reduce_def = {"__reduce__", error_reduce, METH_NOARGS,
                                       "Pickle the exception with its errno."};

/* Make an exception class with a docstring and add it to the module. */
static PyObject *add_exception(PyObject *m, const char *name, const char *doc, PyObject *bases)
{
    char qualified[64];
    snprintf(qualified, sizeof qualified, "shmap.%s", name);
    PyObject *cls = PyErr_NewExceptionWithDoc(qualified, doc, bases, NULL);
    if (!cls || PyModule_AddObjectRef(m, name, cls) < 0) {
        Py_XDECREF(cls);
        return NULL;
    }
    return cls;
}

/* Register Keywords as a MutableMapping and the exit hook; both with the Python modules. */
static int register_with_stdlib(PyObject *m)
{
    PyObject *abc = PyImport_ImportModule("collections.abc");
    if (!abc)
        return -1;
    PyObject *mm = PyObject_GetAttrString(abc, "MutableMapping");
    Py_DECREF(abc);
    if (!mm)
        return -1;
    PyObject *res = PyObject_CallMethod(mm, "register", "O", (PyObject *)&Keywords_Type);
    Py_DECREF(mm);
    if (!res)
        return -1;
    Py_DECREF(res);

    PyObject *atexit = PyImport_ImportModule("atexit");
    PyObject *hook = PyObject_GetAttrString(m, "_atexit");
    res = atexit && hook ? PyObject_CallMethod(atexit, "register", "O", hook) : NULL;
    Py_XDECREF(atexit);
    Py_XDECREF(hook);
    if (!res)
        return -1;
    Py_DECREF(res);
    return 0;
}

PyMODINIT_FUNC PyInit_shmap(void);

PyMODINIT_FUNC PyInit_shmap(void)
{
    import_array();
    if (PyType_Ready(&MapRef_Type) < 0 || PyType_Ready(&Segment_Type) < 0 ||
        PyType_Ready(&Keywords_Type) < 0 || PyType_Ready(&Lock_Type) < 0)
        return NULL;
    if (!Frame_Type.tp_name && PyStructSequence_InitType2(&Frame_Type, &frame_desc) < 0)
        return NULL;
    if (!GcEvent_Type.tp_name &&
        PyStructSequence_InitType2(&GcEvent_Type, &gc_event_desc) < 0)
        return NULL;
    if (!Perm_Type.tp_name && PyStructSequence_InitType2(&Perm_Type, &perm_desc) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&shmap_module);
    if (!m)
        return NULL;
    PyObject *bases = NULL;
    if (!(Error = add_exception(m, "Error", error_doc, PyExc_OSError)))
        goto fail;
    PyObject *reduce = PyDescr_NewMethod((PyTypeObject *)Error, &error_reduce_def);
    int set = reduce ? PyObject_SetAttrString(Error, "__reduce__", reduce) : -1;
    Py_XDECREF(reduce);
    if (set < 0)
        goto fail;
    if (!(bases = PyTuple_Pack(2, Error, PyExc_TypeError)) ||
        !(DtypeError = add_exception(m, "DtypeError", dtype_error_doc, bases)))
        goto fail;
    Py_CLEAR(bases);
    if (!(bases = PyTuple_Pack(2, Error, PyExc_ValueError)) ||
        !(ArgumentError = add_exception(m, "ArgumentError", argument_error_doc, bases)))
        goto fail;
    Py_CLEAR(bases);
    if (!(bases = PyTuple_Pack(2, Error, PyExc_PermissionError)) ||
        !(ReadOnlyError = add_exception(m, "ReadOnlyError", read_only_error_doc, bases)))
        goto fail;
    Py_CLEAR(bases);
    if (!(bases = PyTuple_Pack(2, Error, PyExc_MemoryError)) ||
        !(OutOfMemoryError = add_exception(m, "OutOfMemoryError", out_of_memory_error_doc,
                                           bases)))
        goto fail;
    Py_CLEAR(bases);
    if (!(OwnerDiedWarning = add_exception(m, "OwnerDiedWarning", owner_died_warning_doc,
                                           PyExc_RuntimeWarning)))
        goto fail;
    if (PyModule_AddObjectRef(m, "Segment", (PyObject *)&Segment_Type) < 0 ||
        PyModule_AddObjectRef(m, "Lock", (PyObject *)&Lock_Type) < 0 ||
        PyModule_AddObjectRef(m, "Frame", (PyObject *)&Frame_Type) < 0 ||
        PyModule_AddObjectRef(m, "GcEvent", (PyObject *)&GcEvent_Type) < 0 ||
        PyModule_AddObjectRef(m, "Perm", (PyObject *)&Perm_Type) < 0 ||
        PyModule_AddObjectRef(m, "Keywords", (PyObject *)&Keywords_Type) < 0 ||
        PyModule_AddObjectRef(m, "_MapRef", (PyObject *)&MapRef_Type) < 0 ||
        PyModule_AddStringConstant(m, "__version__", SHMAP_VERSION_STRING) < 0 ||
        PyModule_AddIntConstant(m, "MAX_DIMS", SHMAP_MAX_DIMS) < 0 ||
        PyModule_AddIntConstant(m, "NAME_PORTABLE_MAX", SHMAP_NAME_PORTABLE_MAX) < 0)
        goto fail;
#define ADD_CODE(name, value, msg)                                                            \
    if (PyModule_AddIntConstant(m, #name, value) < 0)                                         \
        goto fail;
    SHMAP_ERRNO_MAP(ADD_CODE)
#undef ADD_CODE
    PyObject *io = PyImport_ImportModule("io");
    UnsupportedOperation = io ? PyObject_GetAttrString(io, "UnsupportedOperation") : NULL;
    Py_XDECREF(io);
    if (!UnsupportedOperation)
        goto fail;
    if (!(mod_open_obj = PyObject_GetAttrString(m, "open")) || register_with_stdlib(m) < 0 ||
        find_main_thread() < 0)
        goto fail;
    if (!atfork_registered && pthread_atfork(NULL, NULL, after_fork_child) == 0)
        __atomic_store_n(&atfork_registered, 1, __ATOMIC_RELAXED);
    return m;
fail:
    Py_XDECREF(bases);
    Py_DECREF(m);
    return NULL;
}
