/*
 * The on-segment format, version 1. docs/FORMAT.md is the prose version of this file;
 * change both together, and bump SHMAP__FORMAT_VERSION for any change a reader of the
 * old format would misread.
 *
 * Layout of a described segment:
 *
 *   0                header page: fixed fields (checksummed), then mutable fields,
 *                    then room reserved for the lock and attach tables
 *   data_offset      the array, C order (page-aligned: 4096 with 4 KiB pages)
 *   kw_offset        keyword slots, kw_capacity of them, 8-aligned after the data
 *   rec_offset       record field list (text, NUL-terminated), when dtype is record
 *   total_size       end; the object is at least this large
 *
 * All integers are in the creator's byte order, which the byte-order mark records; a reader
 * of the other order sees the mark reversed and refuses the segment.
 */
#ifndef SHMAP_FORMAT_H
#define SHMAP_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "shmap.h"

#define SHMAP__MAGIC "\x89SHMAP\r\n"
#define SHMAP__MAGIC_LEN 8
#define SHMAP__BOM 0x01020304u
#define SHMAP__BOM_SWAPPED 0x04030201u
#define SHMAP__FORMAT_VERSION 1u
#define SHMAP__HEADER_SIZE 4096u
#define SHMAP__KW_SLOT_SIZE 160u
#define SHMAP__KW_DEFAULT_CAPACITY SHMAP_KEYWORD_CAPACITY_DEFAULT
#define SHMAP__KW_MAX_CAPACITY SHMAP_KEYWORD_CAPACITY_MAX

/* state word: a segment is READY once its header is complete */
#define SHMAP__STATE_INIT 1u
#define SHMAP__STATE_READY 2u

struct shmap__header {
    /* Fixed part, written once at creation, covered by `checksum`. 248 bytes. */
    unsigned char magic[SHMAP__MAGIC_LEN]; /*   0 */
    uint32_t bom;                          /*   8 */
    uint32_t version;                      /*  12 */
    uint32_t header_size;                  /*  16: bytes of the header page(s) */
    uint32_t flags;                        /*  20: SHMAP_SEG_* */
    uint64_t data_offset;                  /*  24 */
    uint64_t data_size;                    /*  32 */
    uint64_t total_size;                   /*  40 */
    uint32_t dtype;                        /*  48 */
    uint32_t elsize;                       /*  52 */
    uint32_t ndim;                         /*  56 */
    uint32_t page_size;                    /*  60: creator's page size */
    uint64_t dims[8];                      /*  64 */
    int64_t created_ns;                    /* 128: CLOCK_REALTIME */
    int32_t creator_pid;                   /* 136 */
    uint32_t creator_uid;                  /* 140 */
    uint64_t creator_start;                /* 144: creator's start time, clock ticks */
    uint64_t kw_offset;                    /* 152 */
    uint32_t kw_capacity;                  /* 160 */
    uint32_t kw_slot_size;                 /* 164 */
    uint64_t rec_offset;                   /* 168 */
    uint32_t rec_len;                      /* 176: including the NUL */
    uint32_t lock_offset;                  /* 180: lock and attach tables, in the header */
    uint32_t lock_size;                    /* 184 */
    uint32_t reserved0;                    /* 188 */
    uint64_t reserved1[7];                 /* 192 */
    uint64_t checksum;                     /* 248: of the 31 words at 0..247 (format.c) */

    /* Mutable part. 256.. */
    uint64_t generation;                   /* 256: bumped by publish */
    uint32_t state;                        /* 264: SHMAP__STATE_* */
    uint32_t kw_lock;                      /* 268: pid of the keyword writer, or 0 */
    uint32_t kw_seq;                       /* 272: odd while keywords change */
    uint32_t kw_order;                     /* 276: next keyword order number */
    int64_t last_publish_ns;               /* 280 */
    uint32_t gen_waiters;                  /* 288: unused, 0: a publish always wakes */
    /* 292..383: change notification (notify.c). */
    uint32_t creator_destroys;             /* 292: 1 while its creator destroys it at unmap */
    uint32_t write_seq;                    /* 296: odd while a frame is being written */
    int32_t writer_pid;                    /* 300: who began the write in progress */
    uint64_t writer_start;                 /* 304: its start time, clock ticks */
    uint32_t removed;                      /* 312: 1 once deleted through the library */
    uint32_t writer_pidns;                 /* 316: its pid namespace, 0 if unknown */
    uint64_t writer_frame;                 /* 320: the frame it writes, plus 1 (0: unknown) */
    uint32_t writer_seq;                   /* 328: the odd write_seq of that write */
    uint32_t writer_aborted;               /* 332: the write_seq of a write its writer
                                              aborted (shmap_write_abort()), or 0 */
    unsigned char notify_reserved[384 - 336]; /* 336 */
    /* 384..511: lifecycle; free for the backing stores. */
    uint64_t kw_lock_start;                /* 384: kw_lock's start time, clock ticks, or 0 */
    int32_t gc_pid;                        /* 392: a gc judging whether to remove it, or 0;
                                              minus its pid while it writes the next three */
    uint32_t gc_pidns;                     /* 396: its pid namespace, 0 if unknown */
    uint64_t gc_start;                     /* 400: its start time, clock ticks */
    int64_t gc_ns;                         /* 408: when it marked it, CLOCK_REALTIME ns */
    uint32_t kw_lock_pidns;                /* 416: kw_lock's pid namespace, 0 if unknown */
    uint32_t kw_lock_pidns_pid;            /* 420: the kw_lock pid kw_lock_pidns is of: it
                                              counts only while the two are equal */
    unsigned char reserved3[512 - 424];    /* 424 */
    /* 512..4095: lock and attach tables (lock_offset, lock_size) */
    unsigned char locks[SHMAP__HEADER_SIZE - 512];
};

#define SHMAP__FIXED_SIZE 248u
/* Bytes of the header a reader needs to check it: the fixed and mutable parts. */
#define SHMAP__CHECKED_SIZE 512u
#define SHMAP__LOCK_OFFSET 512u
#define SHMAP__LOCK_SIZE (SHMAP__HEADER_SIZE - 512u)

/*
 * The lock and attach area, bytes 512..4095 of the header (see src/lock.c for the protocol).
 * All zero means: unlocked, nobody attached, which is what segments made before locks have.
 */
#define SHMAP__LOCK_SLOTS 110u
#define SHMAP__LW_WRITER 0x80000000u /* word: a writer holds the lock or is draining readers */
#define SHMAP__LW_SLEEP 0x40000000u  /* word: someone sleeps on the word; unlock must wake */
#define SHMAP__LW_DIED 0x20000000u   /* word: a writer died holding; tell the next holder */
#define SHMAP__LW_GEN 0x1fff0000u    /* word: bumped by each exclusive acquire (ABA guard) */
#define SHMAP__LW_GEN_ONE 0x00010000u
#define SHMAP__LW_SLOT 0x0000ffffu   /* word: the writer's slot index */
#define SHMAP__SLOT_RDWR 1u           /* slot flags: attached read-write */

/* One attached process. 32 bytes. `pid` 0 is a free slot, -1 one being reclaimed. */
struct shmap__lockslot {
    int32_t pid;       /*  0 */
    uint32_t shared;   /*  4: shared holds by this process's handles */
    uint64_t start;    /*  8: its start time in clock ticks since boot, 0 if unknown */
    uint32_t flags;    /* 16: SHMAP__SLOT_* */
    uint32_t pidns;    /* 20: its pid namespace (inode, low 32 bits), 0 if unknown */
    uint64_t rstart;   /* 24: while pid < 0, the start time of process -pid reclaiming it */
};

struct shmap__lockarea {
    uint32_t word;       /* 512: SHMAP__LW_* */
    uint32_t drain;      /* 516: bumped when a reader lets go while a writer drains readers */
    uint32_t nslots;     /* 520: high-water mark of slots ever used */
    int32_t dead_pid;    /* 524: last writer found dead holding the lock, or 0 */
    int32_t writer_pid;  /* 528: last process to take the exclusive lock */
    uint32_t draining;   /* 532: the word of a writer still waiting for readers, or 0 */
    uint32_t quiet;      /* 536: the word of an exclusive holder that writes nothing, or 0 */
    uint32_t reserved32; /* 540 */
    uint64_t reserved[4];/* 544 */
    struct shmap__lockslot slots[SHMAP__LOCK_SLOTS]; /* 576 */
};

/* A keyword slot. 160 bytes. `type` 0 is an empty slot. */
struct shmap__kwslot {
    char name[24];     /*   0: upper-case, NUL-terminated */
    uint32_t type;     /*  24: shmap_kw_type, 0 = empty */
    uint32_t order;    /*  28: order of first setting, for listing */
    int64_t i;         /*  32 */
    double f;          /*  40 */
    char s[72];        /*  48 */
    char comment[40];  /* 120: NUL-terminated, at most 39 */
};

_Static_assert(sizeof(struct shmap__header) == SHMAP__HEADER_SIZE, "header is one page");
_Static_assert(offsetof(struct shmap__header, checksum) == SHMAP__FIXED_SIZE, "fixed part");
_Static_assert(offsetof(struct shmap__header, generation) == 256, "mutable part");
_Static_assert(offsetof(struct shmap__header, locks) == SHMAP__LOCK_OFFSET, "lock area");
_Static_assert(sizeof(struct shmap__lockslot) == 32, "lock slot");
_Static_assert(sizeof(struct shmap__lockarea) == SHMAP__LOCK_SIZE, "lock area");
_Static_assert(sizeof(struct shmap__kwslot) == SHMAP__KW_SLOT_SIZE, "keyword slot");

#endif
