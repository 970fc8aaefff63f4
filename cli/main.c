/*
 * main.c: the shmap command's table of subcommands and its dispatch (libgit2's CLI style).
 * Each subcommand lives in cmd_NAME.c; this file knows only their names, entry points and
 * help texts, so `shmap help NAME`, `shmap NAME --help` and usage errors all print the same
 * words.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const cli_command commands[] = {
    {"create", cmd_create,
     "create NAME TYPE DIM [DIM...] [--mode MODE] [--transient] [--prefault] [--hugepages] "
     "[--ring] [--replace|--exist-ok] [--keyword KEY=VALUE]...",
     "create a segment holding a zero-filled array, and keep it",
     "TYPE is an element type: u8 i8 u16 i16 u32 i32 u64 i64 f16 f32 f64 c64 c128 bool,\n"
     "or a numpy or IDL spelling of one (f4, float32, <f8, byte, long, double, dcomplex...).\n"
     "A record type is a packed field list such as x:f4,y:f4,flag:u1 or pos:f8[3],t:f8,\n"
     "with or without a record: prefix (record:x:f4,y:f4,flag:u1).\n"
     "DIM... is the shape in C order (last index fastest): 1 to 8 dimensions, each >= 1.\n"
     "\n"
     "  --mode MODE        permission bits, octal, made exactly (the umask does not\n"
     "                     apply); default 0600 less the umask\n"
     "  --transient        record it as transient: `shmap gc` may remove it once its\n"
     "                     creator and users are gone\n"
     "  --prefault         fault every page in at creation\n"
     "  --hugepages        put the segment in huge pages, from the pool reserved with\n"
     "                     sysctl vm.nr_hugepages: System V (sysv://KEY) or a file on a\n"
     "                     hugetlbfs mount (file:/dev/hugepages/NAME); not POSIX names.\n"
     "                     The object's size rounds up to whole huge pages. A file on\n"
     "                     hugetlbfs is in huge pages with or without this option\n"
     "  --ring             make a ring of frames: the first dimension is the number of\n"
     "                     frames, which writers fill in turn and readers copy whole\n"
     "                     (shmap_write_begin(), shmap_read_frame(); `shmap watch`)\n"
     "  --replace          replace an existing segment of that name\n"
     "  --exist-ok         if NAME exists with this type and shape (a ring, or not, as\n"
     "                     asked), succeed and set the --keyword ones on it, all or none\n"
     "                     (its mode and flags untouched)\n"
     "  --keyword K=V[ / COMMENT]\n"
     "                     set a keyword (repeatable): T, F, true, false are bool, an\n"
     "                     integer is an integer, a number a float, other text a string\n"
     "\n"
     "The segment outlives the command; `shmap rm NAME` removes it."},
    {"ls", cmd_ls, "ls [--all] [--json]", "list the segments on this system",
     "Columns: NAME, DTYPE, SHAPE, BYTES (of data), MODE, OWNER, CREATOR (pid),\n"
     "USERS, LOCK, GEN (generation), AGE.\n"
     "\n"
     "  --all    also list shared-memory objects that are not shmap segments, with their\n"
     "           object size under BYTES and, in a STATUS column, why they are not\n"
     "           segments; and System V segments deleted while processes still attach\n"
     "           them (STATUS deleted: kept until the last one detaches; only info\n"
     "           opens one, as sysv://id=N)\n"
     "  --json   print a JSON array with one object per segment (schema in shmap(1))"},
    {"info", cmd_info, "info NAME [--json] " CLI_RAW_USAGE,
     "describe a segment: header, object and keywords",
     "  --json   print one JSON object (schema in shmap(1))\n"
     "\n"
     "With --dtype and --shape the object is described as a raw array: store, OS handle,\n"
     "object size, mode, owner, type, shape, bytes and offset, and `raw: yes`.\n"
     "\n" CLI_RAW_HELP},
    {"keyword", cmd_keyword,
     "keyword NAME [KEY | KEY=VALUE[ / COMMENT]... | --delete KEY... [--missing-ok]] [--json]",
     "list, read, set or delete a segment's keywords",
     "  NAME alone     list the keywords, one line each as `shmap info` shows them:\n"
     "                 KEY = VALUE / COMMENT, strings in single quotes (one inside doubled),\n"
     "                 bools T or F, floats with a point or an exponent (2.0, 1e-05, nan)\n"
     "  KEY            print that keyword's value alone, for scripts: as info shows it, but\n"
     "                 a string bare, without quotes; no such keyword exits 1\n"
     "  KEY=VALUE[ / COMMENT]...\n"
     "                 set keywords, as create --keyword does: T, F, true, false are bool,\n"
     "                 an integer (0x for hex) an integer, another number a float, other\n"
     "                 text, or text in quotes (the quote doubled for itself: 'it''s'), a\n"
     "                 string. Without a comment a keyword keeps the one it has;\n"
     "                 KEY=VALUE / (nothing after it) clears it\n"
     "  --delete KEY...\n"
     "                 delete keywords; one the segment lacks is a failure (exit 1)\n"
     "  --missing-ok   with --delete: a KEY the segment lacks is not a failure\n"
     "  --json         print the listing as info --json has it: {\"name\",\n"
     "                 \"keyword_capacity\", \"keywords\", \"keyword_comments\"}, or one\n"
     "                 keyword as {\"keyword\", \"type\", \"value\", \"comment\"} (shmap(1))\n"
     "\n"
     "Names are 1 to 23 letters, digits, _ and -, in any case (kept upper-case). Several\n"
     "keywords are set or deleted all or none, in one change that readers see whole: they\n"
     "are all checked first (the free slots counted, the keywords to delete looked for; a\n"
     "failure names the keywords). A malformed KEY or KEY=VALUE is bad usage (exit 2),\n"
     "found before the segment is opened.\n"
     "Reading needs read permission only; setting and deleting need write permission.\n"
     "The command takes no lock (set and fill take the exclusive one): each keyword changes\n"
     "whole and no reader sees one half written, but a holder of the segment's lock is not\n"
     "kept out and may see some of several changed. To change them under the exclusive\n"
     "lock, run `shmap lock NAME -- shmap keyword NAME ...`.\n"
     "A keyword change publishes nothing: the generation stays, and `shmap wait` and\n"
     "readers waiting for an update are not woken; they find the new keywords when they\n"
     "next read them. A raw array (--dtype) has no keywords: those options are refused."},
    {"rm", cmd_rm, "rm NAME... [--timeout SECONDS] [--force] [--missing-ok]", "remove segments",
     "Deletes each NAME once nobody holds its lock: takes the exclusive lock (waiting for\n"
     "lock holders and hold-while-open users), removes the name, lets go. Processes that\n"
     "map a segment keep its memory until they unmap it; new opens find no such segment.\n"
     "\n"
     "  --timeout S    give up on a NAME after S seconds (0: only try); by default wait\n"
     "  --force        remove at once without waiting; also removes objects that are not\n"
     "                 shmap segments (refused otherwise)\n"
     "  --missing-ok   a NAME with no segment is not a failure (for cleanups)\n"
     "\n"
     "Goes on after a failure, and exits 1 if any NAME could not be removed; a malformed\n"
     "NAME is bad usage (exit 2) and stops it before it removes any."},
    {"chmod", cmd_chmod, "chmod MODE NAME...", "change the permission bits of segments",
     "MODE is octal (640, 0640; 0 to 0777) or symbolic, as chmod(1) writes it: clauses\n"
     "[ugoa][+-=][rwx] separated by commas, such as u+rw,g+r or go-w or a=r (u the owner,\n"
     "g the group, o others, a or nothing all three; no umask applies). Set-id and sticky\n"
     "bits, X and g=u are refused. A symbolic MODE changes each NAME's mode as it is.\n"
     "\n"
     "Works on whatever object NAME picks, a segment or not, and never follows a symbolic\n"
     "link at NAME: a link, a FIFO or a directory there is refused. Processes that map a\n"
     "segment keep it; the mode decides who may open it from now on. Only the owner or\n"
     "root may change the mode (for System V, the creator too).\n"
     "\n"
     "Goes on after a failure, and exits 1 if any NAME could not be changed; a malformed\n"
     "NAME is bad usage (exit 2) and stops it before it changes any."},
    {"chown", cmd_chown, "chown USER[:GROUP] NAME...", "change the owner and group of segments",
     "USER and GROUP are names or numbers: USER:GROUP sets both, USER the owner only, USER:\n"
     "the owner and the user's login group, :GROUP the group only.\n"
     "\n"
     "Works on whatever object NAME picks, and never follows a symbolic link at NAME.\n"
     "Only root may give a POSIX segment or a file to another user; the owner may change\n"
     "its group to one of the owner's groups. A System V segment's owner or creator may\n"
     "give it to anyone.\n"
     "\n"
     "Goes on after a failure, and exits 1 if any NAME could not be changed; a malformed\n"
     "NAME is bad usage (exit 2) and stops it before it changes any."},
    {"gc", cmd_gc, "gc [--dry-run] [--prefix PREFIX]", "clean up after dead processes",
     "Removes transient segments (create --transient, or a program's segment that its\n"
     "creator would have destroyed on closing it) whose creator is dead and that no\n"
     "live process uses, clears the attach slots of dead processes, and removes the hidden\n"
     "leftovers (.shmap-tmp-PID-N-NAME) of creations killed half-way, in /dev/shm and\n"
     "among System V segments. Files are looked at only with --prefix file:/DIR/...: then\n"
     "the same is done in that directory, and nowhere else. Never removes a\n"
     "persistent segment, nor one a process may map that this user cannot see (a\n"
     "\"kept\" line says which: run gc as root or as the segment's owner). Prints one\n"
     "line per action and a summary.\n"
     "\n"
     "  --dry-run          say what would be done, change nothing\n"
     "  --prefix PREFIX    look only at objects whose name starts with PREFIX\n"
     "\n"
     "Exits 1 if an action failed (an error line says which), else 0."},
    {"cat", cmd_cat, "cat NAME [--slice SPEC] [--timeout SECONDS] " CLI_RAW_USAGE,
     "print the values of a segment",
     "A 1-D array prints on one line, a 2-D array one row per line, higher dimensions as\n"
     "2-D blocks separated by blank lines; values are separated by one space. Integers\n"
     "print exactly; floats in the shortest form that reads back to the same value,\n"
     "whole numbers below 1e16 in full (16777220, not 1.677722e+07; nan, inf, -inf);\n"
     "complex numbers as 1+2j; bool as True or False; records as (x=1.5, y=2, flag=1),\n"
     "array fields as [1, 2, 3].\n"
     "\n"
     "  --slice SPEC   numpy-style, one item per dimension, comma-separated: an index\n"
     "                 (3, -1) selects and drops that dimension; start:stop[:step] (2:5,\n"
     "                 ::2, 1:10:3, ::-1) keeps it; missing items mean ':'. Negative\n"
     "                 numbers count from the end. More items than dimensions, or an\n"
     "                 index outside one, is bad usage (exit 2).\n"
     "  --timeout S    give up after S seconds waiting for a writer's lock (exit 1); by\n"
     "                 default wait as long as it takes\n"
     "\n"
     "What is printed is one consistent copy, taken under the shared lock as export takes\n"
     "it: never half of one fill and half of the next.\n"
     "\n" CLI_RAW_HELP},
    {"fill", cmd_fill, "fill NAME VALUE|ramp [--timeout SECONDS] " CLI_RAW_USAGE,
     "set every element, then publish",
     "VALUE is written as for `shmap set`. `ramp` sets element i (in C order) to i, like\n"
     "IDL's DINDGEN: integer types wrap modulo their range as C converts a uint64_t,\n"
     "floats get the nearest value (f16: infinity from 65520 on, as a conversion rounds),\n"
     "complex numbers i+0j, bool i%2 (the index's low bit: False, True, False...),\n"
     "records i in every field. Publishing bumps the generation and wakes waiting\n"
     "readers. The segment's exclusive lock is taken first, waited for as long as it\n"
     "takes or --timeout SECONDS (then exit 1), so that writers never interleave; under\n"
     "`shmap lock NAME --write` the command works under that lock.\n"
     "A raw mapping (--dtype) has no generation nor lock: it is written,\n"
     "not published. With --private nothing reaches the object: a dry run that checks the\n"
     "value and read access. A ring of frames (create --ring) is refused, exit 1: its\n"
     "frames go in one at a time, through shmap_write_begin() and shmap_publish().\n"
     "\n" CLI_RAW_HELP},
    {"import", cmd_import,
     "import FILE|- NAME [--mode MODE] [--transient] [--prefault] [--hugepages] "
     "[--existing [--timeout SECONDS]] [--keyword KEY=VALUE]... [--hdu N|EXTNAME] "
     "[--dtype TYPE --shape D,D,... [--offset BYTES]]",
     "create a segment holding the array of a .npy, FITS or raw file, or write it into one",
     "FILE's format is told by its first bytes, whatever its name:\n"
     "  .npy   numpy's format, versions 1.0, 2.0 and 3.0: every type shmap has (bool,\n"
     "         int and uint of 8 to 64 bits, f2 f4 f8, c8 c16) in either byte order,\n"
     "         swapped to this machine's; fortran_order arrays are turned into C order;\n"
     "         structured types become records (fields of one byte order, no nesting,\n"
     "         sub-arrays flattened: ('pos', '<f4', (3,)) is pos:f32[3]). A 0-d array\n"
     "         becomes one element of shape 1; an empty one is refused\n"
     "  FITS   the primary image, or the first image extension when the primary HDU\n"
     "         has no data, or the HDU --hdu names (needs shmap built with CFITSIO).\n"
     "         BITPIX 8, 16, 32, 64, -32, -64 are u8 i16 i32 i64 f32 f64; the BZERO\n"
     "         offsets CFITSIO writes for unsigned and signed-byte data give u16 u32\n"
     "         u64 and i8. Other scaling (BSCALE not 1, another BZERO) gives the\n"
     "         physical values, as CFITSIO's equivalent type says: when the scaling\n"
     "         keeps them whole, the smallest integer type up to 32 bits that holds\n"
     "         them (BITPIX 8 with BZERO 5 gives i16; BLANK is then the value its\n"
     "         pixels have), f64 for BITPIX 32 data that i32 cannot hold (BZERO 5:\n"
     "         CFITSIO's choice); else f32 for 8- and 16-bit data, f64 for wider,\n"
     "         BLANK pixels as NaN. FITS axes are listed fastest first: NAXIS1 is the\n"
     "         last dimension, so a NAXIS1=640, NAXIS2=480 image has shape 480x640.\n"
     "         Header cards other than the structural ones (SIMPLE BITPIX NAXISn\n"
     "         EXTEND BZERO BSCALE PCOUNT GCOUNT XTENSION, COMMENT HISTORY, CHECKSUM\n"
     "         DATASUM, and BLANK of data read as physical values) of the image's HDU\n"
     "         (not the primary header's, when the image is in an extension) become\n"
     "         keywords with their comments (cut to 39 characters, with a warning); a\n"
     "         card shmap cannot keep (a name with spaces or dots, a complex value, a\n"
     "         value that is no decimal number: abc, 0x10, 1E400) is left out with a\n"
     "         warning\n"
     "  raw    with --dtype and --shape, any file is read as that array at --offset\n"
     "         (default 0), in C order and this machine's byte order (or the other\n"
     "         one a --dtype such as '>f4' names); the file must end where the array\n"
     "         does\n"
     "Anything else is refused (exit 1). FILE is a regular file or a pipe: - is standard\n"
     "input, and <(command) or a named FIFO work too (a FIFO is not waited for: start its\n"
     "writer first); devices are refused. Standard input may be a socket, read as -,\n"
     "/dev/stdin or /dev/fd/0; other sockets are refused. FITS is read from its start\n"
     "again: not a pipe.\n"
     "NAME may be any store's name (frames, sysv://0x5eed, file:/data/frames.shm) and\n"
     "must not exist, unless --existing is given.\n"
     "\n"
     "  --mode MODE, --transient, --prefault, --hugepages\n"
     "                     as for `shmap create`\n"
     "  --existing         write into segment NAME, which exists with FILE's type and\n"
     "                     shape, instead of making one: the processes that map it keep\n"
     "                     their mapping and see the new data; its other keywords stay\n"
     "  --timeout SECONDS  with --existing, wait at most this long for its exclusive lock\n"
     "                     (default: for ever)\n"
     "  --keyword K=V[ / COMMENT]\n"
     "                     set a keyword (repeatable), after the file's: it wins\n"
     "  --hdu N|EXTNAME    read the image of that HDU of a FITS file: 0 the primary,\n"
     "                     1 the first extension (as CFITSIO's file.fits[1]), or the\n"
     "                     first HDU whose EXTNAME is that, in any case\n"
     "  --dtype TYPE --shape D,D,... [--offset BYTES]\n"
     "                     read FILE as raw bytes (see above), whatever it holds\n"
     "\n"
     "All or nothing: a file that is not what its header says (truncated, a bad header)\n"
     "is refused before the segment is made, and a failure after (a read error, a full\n"
     "/dev/shm, a signal) removes it. Until the data is in, the new segment's exclusive\n"
     "lock is held and a write is in progress; it is published once (generation 1).\n"
     "A kill -9 leaves only the hidden object being filled: .shmap-tmp-PID-N-NAME in\n"
     "/dev/shm, which `shmap gc` removes, or beside a file: segment, in its directory,\n"
     "which `shmap gc --prefix file:DIR/` removes; a System V segment, which has its key\n"
     "from the start, is left marked unfinished under it, and `shmap gc` removes it.\n"
     "With --existing the whole file is read into memory first, then the segment's\n"
     "exclusive lock is taken and the data copied in and published once: a failure\n"
     "before that leaves the segment as it was."},
    {"export", cmd_export,
     "export NAME FILE|- [--format npy|fits|raw] [--force] [--timeout S] " CLI_RAW_USAGE,
     "write a segment's array to a .npy, FITS or raw file",
     "The format follows FILE's extension, in any case: .npy is numpy's format, .fits,\n"
     ".fit and .fts are FITS, anything else is raw bytes (with a warning for a name that\n"
     "says compressed, such as frame.fits.gz: export compresses nothing).\n"
     "  npy    version 1.0 (2.0 for a header over 64 KiB), C order, this machine's byte\n"
     "         order; records as structured types (pos:f32[3] is ('pos', '<f4', (3,))):\n"
     "         numpy.load gives the same type, shape and values\n"
     "  FITS   a primary image (needs shmap built with CFITSIO): u8 i16 i32 i64 f32 f64\n"
     "         as BITPIX 8 16 32 64 -32 -64, and u16 u32 u64 i8 with the BZERO offset\n"
     "         CFITSIO uses for them. The axes are reversed (NAXIS1 is the last, fastest\n"
     "         dimension). The keywords become header cards with their comments (long\n"
     "         names as HIERARCH cards, long strings with CONTINUE, and a comment that\n"
     "         does not fit after a string on a CONTINUE card; a number's is cut, with a\n"
     "         warning, when a long name leaves too little room); keywords named like\n"
     "         structural cards (BITPIX, NAXIS2...) are left out with a warning. c64,\n"
     "         c128, f16, bool and records have no FITS image type: refused before\n"
     "         anything is written\n"
     "  raw    the data bytes alone, C order, this machine's byte order\n"
     "\n"
     "  --format F     npy, fits or raw, whatever FILE is called\n"
     "  --force        replace FILE if it exists (refused otherwise)\n"
     "  --timeout S    give up after S seconds waiting for the lock or for a whole copy;\n"
     "                 by default the lock is waited for as long as it takes, and a\n"
     "                 whole copy is tried for 10 s at most\n"
     "\n"
     "The data is a snapshot: copied while holding the shared lock, so writers that lock\n"
     "are kept out, and copied again if a writer began or published a frame meanwhile\n"
     "(a user who may not write the segment cannot lock it and gets the checked copy). A\n"
     "writer that died mid-write gets a warning. FILE gets its name only once whole, so\n"
     "it is never seen half-written and a failure leaves it as it was and, where the\n"
     "file system has unnamed files (O_TMPFILE), even a kill -9 leaves nothing beside\n"
     "it. A full file system, or a file larger than this process may write (ulimit -f),\n"
     "is said with the bytes to write and the room there was. A symbolic link is FILE\n"
     "itself: replaced (with --force), never written through, unless it leads to a\n"
     "descriptor.\n"
     "- writes to standard output, and so does a FILE that names one of this command's\n"
     "descriptors (/dev/stdout, /dev/fd/N, /proc/self/fd/N, or a link to one), whatever\n"
     "it leads to: `export NAME /dev/stdout --format npy > f.npy` writes f.npy (the\n"
     "format comes from FILE or --format, not from where the descriptor leads), and the\n"
     "name is never replaced. Another process's descriptor (/proc/PID/fd/N) and a FILE\n"
     "that is or leads to a character device or a FIFO (/dev/null, >(command)) are\n"
     "opened for writing, with no hidden file. A regular file behind another process's\n"
     "descriptor needs --force, as by its name; it is written in place, emptied only\n"
     "once the data is in hand (a failed export leaves it as it was), and refused if it\n"
     "is the segment's own object. A FIFO with no reader fails at once; a terminal, a\n"
     "block device and a socket by its own name are refused (give - and redirect), and\n"
     "so is a new file in /dev or /proc. /dev/fd/01 (a leading zero) names no\n"
     "descriptor.\n"
     "\n" CLI_RAW_HELP},
    {"lock", cmd_lock, "lock NAME [--read|--write] [--timeout S] -- COMMAND [ARGS...]",
     "run a command holding the segment's lock",
     "Takes the exclusive lock (--write, the default) or a shared one (--read), runs\n"
     "COMMAND, releases the lock when it ends and exits with its status (127 if it could\n"
     "not be found, 126 if it could not be run); if a signal ended COMMAND, shmap ends by\n"
     "it too (a shell sees 128+N), so Ctrl-C stops a script. TERM, HUP, INT, QUIT, USR1\n"
     "and USR2 sent to shmap are passed on to COMMAND, and the lock is held until COMMAND\n"
     "has ended.\n"
     "\n"
     "  --read         take a shared lock: other readers may hold it too\n"
     "  --write        take the exclusive lock (default)\n"
     "  --timeout S    give up after S seconds (0: only try) and exit 1; by default wait\n"
     "\n"
     "If the previous writer died holding the lock, a warning line naming its pid is\n"
     "printed and COMMAND still runs: the data may be half-written.\n"
     "shmap commands that COMMAND runs on the same segment work under this lock\n"
     "instead of waiting for it: cat and export under either lock; fill, set,\n"
     "import --existing and lock --write under --write (under --read they fail at once,\n"
     "saying why), and lock --read under either: a lock nested so runs its COMMAND\n"
     "under the enclosing hold, and kills it if the enclosing lock ends first."},
    {"set", cmd_set, "set NAME INDEX... VALUE [--timeout SECONDS] " CLI_RAW_USAGE,
     "set one element, then publish",
     "One INDEX per dimension; a negative index counts from the end. VALUE is:\n"
     "  integers   decimal or 0x hex, within the type's range\n"
     "  floats     a decimal or hex float, nan, inf, -inf\n"
     "  complex    1+2j, 2j, 1, (1+2j) or (1,2)\n"
     "  bool       true, false, t, f, 1, 0 (any case)\n"
     "  records    (x=1.5, y=2) by name or (1.5, 2, 1) in order; array fields as [1, 2, 3]\n"
     "             or one value for all items; fields not given keep their value\n"
     "The exclusive lock is taken first, as by fill (--timeout SECONDS to wait at most).\n"
     "A raw mapping (--dtype) is written, not published; with --private nothing reaches\n"
     "the object (a dry run). The wrong number of indices, an index outside the shape or\n"
     "a value the type cannot hold is bad usage (exit 2), and nothing is written.\n"
     "A ring of frames is refused (exit 1), as by fill.\n"
     "\n" CLI_RAW_HELP},
    {"wait", cmd_wait, "wait NAME [--timeout SECONDS]", "block until the segment's next update",
     "Exits 0 as soon as the generation passes the one the segment had when the command\n"
     "started (a writer published), 1 after --timeout seconds without an update or if the\n"
     "segment is deleted or replaced meanwhile. By default it waits without end."},
    {"watch", cmd_watch, "watch NAME [--interval SECONDS] [--count N] " CLI_RAW_USAGE,
     "live view: generation, update rate, last update, min/max/mean",
     "On a terminal one line is redrawn in place every --interval seconds (0.5 by default)\n"
     "until 'q' or Ctrl-C; elsewhere one line is printed per interval (1 s by default).\n"
     "The statistics are those of the newest frame, read whole (never torn); complex values\n"
     "count by their magnitude; records have none.\n"
     "\n"
     "  --interval S   seconds between lines\n"
     "  --count N      stop after N lines\n"
     "\n"
     "A raw mapping (--dtype) has no generation: it is polled every interval and its line\n"
     "shows `raw` and the statistics of the data as it is then (not a copy checked against\n"
     "a writer, so a frame being written may show half old, half new).\n"
     "The first line has no rate (rate -). Exits 1 when the segment or raw object is\n"
     "deleted or replaced, 0 when stopped by q, SIGINT, SIGTERM or --count.\n"
     "\n" CLI_RAW_HELP},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

const cli_command *cli_command_find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

void cli_command_help(FILE *out, const cli_command *cmd)
{
    fprintf(out, "usage: shmap %s\n\n%c%s.\n", cmd->usage, cmd->summary[0] - 'a' + 'A',
            cmd->summary + 1);
    if (cmd->details)
        fprintf(out, "\n%s\n", cmd->details);
}

static void print_overview(FILE *out)
{
    fputs("usage: shmap COMMAND [ARGS...]\n"
          "       shmap help COMMAND | --help | --version\n"
          "\n"
          "Named, typed arrays in shared memory.\n"
          "\n"
          "Commands:\n",
          out);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-8s%s\n", commands[i].name, commands[i].summary);
    fprintf(out, "  %-8s%s\n", "help", "describe a command, or all of them (this text)");
    fputs("\n"
          "NAME picks the store, for every command:\n"
          "  frames, /frames, shm://frames, shmem://frames  POSIX shared memory\n"
          "  sysv://0x5eed, sysv://24301, sysv://id=N       System V, by key or by id\n"
          "  file:/path, file:///path, file:relative/path   a file\n"
          "info, cat, fill, set, watch and export read any object, or a file, as a raw\n"
          "array with --dtype TYPE --shape D,D,... [--offset BYTES] [--private].\n"
          "`shmap help COMMAND` describes a command's arguments and options.\n"
          "Exit status: 0 on success, 1 on failure, 2 on bad usage; lock exits with its\n"
          "command's status.\n",
          out);
}

static int cmd_help(int argc, char **argv)
{
    /* `help --help` as every command takes --help, and `help help`: what help does is the
     * overview's. */
    if (argc < 2 || (argc == 2 && (strcmp(argv[1], "--help") == 0 ||
                                   strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0))) {
        print_overview(stdout);
        return CLI_EXIT_OK;
    }
    if (argc > 2)
        return cli_usage_error(NULL, "help takes one command name: unexpected argument '%s'",
                               argv[2]);
    const cli_command *cmd = cli_command_find(argv[1]);
    if (!cmd)
        return cli_usage_error(NULL, "help: unknown command '%s'", argv[1]);
    cli_command_help(stdout, cmd);
    return CLI_EXIT_OK;
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2) {
        return cli_usage_error(NULL, "no command given");
    }
    const char *arg = argv[1];
    bool help = strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
    if ((help || strcmp(arg, "--version") == 0) && argc > 2)
        return cli_usage_error(NULL, "%s takes no arguments ('%s' given)", arg, argv[2]);
    if (help) {
        print_overview(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(arg, "--version") == 0) {
        printf("shmap %s\n", SHMAP_VERSION_STRING);
        return CLI_EXIT_OK;
    }
    if (strcmp(arg, "help") == 0)
        return cmd_help(argc - 1, argv + 1);

    const cli_command *cmd = cli_command_find(arg);
    if (!cmd) {
        return cli_usage_error(NULL, "unknown %s '%s'", arg[0] == '-' ? "option" : "command",
                               arg);
    }
    return cmd->fn(argc - 1, argv + 1);
}

static void on_xfsz(int sig)
{
    (void)sig;
}

/*
 * A write past this process's file size limit (ulimit -f) raises SIGXFSZ, whose default
 * action ends the process there and then: no message, and what it was making left half
 * made (a hidden file beside an export's FILE, a hidden object of a creation). With the
 * signal caught, the write fails with EFBIG instead, and the command's own error path
 * tidies up and says which limit it met. Caught rather than ignored: an ignored signal
 * stays ignored in the program `shmap lock` runs, a caught one is back to its default
 * there (exec resets it). One that shmap inherited ignored stays ignored.
 */
static void catch_xfsz(void)
{
    struct sigaction sa, old;
    if (sigaction(SIGXFSZ, NULL, &old) == 0 && old.sa_handler == SIG_IGN)
        return;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_xfsz;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGXFSZ, &sa, NULL);
}

/* Standard output is a regular file that has reached this process's file size limit. */
static int stdout_at_fsize_limit(unsigned long long *limit)
{
    struct rlimit rl;
    struct stat st;
    if (getrlimit(RLIMIT_FSIZE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
        fstat(STDOUT_FILENO, &st) < 0 || !S_ISREG(st.st_mode) ||
        (unsigned long long)st.st_size < (unsigned long long)rl.rlim_cur)
        return 0;
    *limit = (unsigned long long)rl.rlim_cur;
    return 1;
}

int main(int argc, char **argv)
{
    catch_xfsz();
    int status = dispatch(argc, argv);
    /* A command that caught an end signal while it held a segment has let it go: end as
     * that signal would have ended it. */
    cli_end_if_signalled();

    /* Output that never reached its file (a full disk, a closed pipe) is a failure too,
     * said of the segment whose output it was. errno is cleared so that only the flush's
     * own failure, or one a command saw as it wrote (cli_stdout_failed()), gives a reason. */
    errno = 0;
    fflush(stdout);
    int e = cli_stdout_failed();
    if (e != 0) {
        unsigned long long limit;
        if (stdout_at_fsize_limit(&limit))
            cli_fail(cli_subject(), "cannot write to standard output: exceeds this "
                                    "process's file size limit (ulimit -f) of %llu bytes",
                     limit);
        else if (e > 0)
            cli_fail(cli_subject(), "cannot write to standard output: %s", strerror(e));
        else
            cli_fail(cli_subject(), "cannot write to standard output");
        return CLI_EXIT_FAIL;
    }
    return status;
}
