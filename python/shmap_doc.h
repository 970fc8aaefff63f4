/*
 * shmap_doc.h: the docstrings of the Python module, kept apart from the code so that both
 * read well. Signatures follow CPython's "name(sig)\n--\n\n" convention, so that
 * help() and inspect.signature() show the parameters of the C functions.
 */
#ifndef SHMAP_DOC_H
#define SHMAP_DOC_H

#include <Python.h>

PyDoc_STRVAR(module_doc,
"Named, typed, n-dimensional numpy arrays in shared memory (libshmap).\n"
"\n"
"A segment is a named region of shared memory holding one array. Its type, shape,\n"
"keywords and a generation counter are recorded in the segment, so any process, in\n"
"Python, C or the `shmap` command, attaches by name alone:\n"
"\n"
"    >>> import shmap, numpy as np\n"
"    >>> seg = shmap.create('frames', (512, 512), 'f4', keep=True)\n"
"    >>> seg.array[:] = np.random.rand(512, 512)   # zero copy: writes the segment\n"
"    >>> seg.keywords['EXPTIME'] = 1.5\n"
"    >>> seg.publish()                              # generation + 1\n"
"    >>> seg.close()\n"
"\n"
"    and in another process:\n"
"\n"
"    >>> with shmap.open('frames') as seg:          # read-only by default\n"
"    ...     a = seg.array                           # numpy.ndarray over the mapping\n"
"\n"
"Names pick the store: 'frames', '/frames', 'shm://frames' and 'shmem://frames' all\n"
"name the POSIX shared-memory object /frames; 'sysv://0x5eed' (a key) and\n"
"'sysv://id=N' name System V segments, 'file:/path/to/x' a regular file.\n"
"A name is a str or bytes. To the system it is bytes, which need not be UTF-8: a str\n"
"is encoded as os.fsencode() does (the file-system encoding, surrogateescape), and\n"
"the names this module returns (Segment.name, os_handle, list(), info()) are decoded\n"
"as os.fsdecode() does, so a name list() gives is its object's name byte for byte and\n"
"opens and deletes it, unless it holds a control character: shmap takes none in any\n"
"name (shmap.ArgumentError, EBADNAME), so such an object, renamed into /dev/shm by\n"
"another tool, is listed only by list(all=True), with an error saying why, and is\n"
"removed with os.unlink('/dev/shm/' + name).\n"
"\n"
"Lifetimes. A Segment is one reference to a mapping of this process. Every array taken\n"
"from Segment.array, and every buffer exported (numpy.asarray(seg), memoryview(seg)),\n"
"holds a reference of its own: closing the Segment while arrays exist is safe, the\n"
"arrays stay readable, and the memory is unmapped when the last reference goes. Until\n"
"then the mapping is unmap-pending (IDL's SHMUNMAP): opening the segment again in\n"
"this process with the same access (read-only, or readonly=False) raises shmap.Error\n"
"with code EPENDING. Mappings are per access, so an open with the other access gets a\n"
"mapping of its own and succeeds; delete() works too. Only the Segment's own arrays\n"
"and buffers count: closing a Segment whose arrays are gone drops its reference and\n"
"leaves nothing pending, whatever other Segments (opens with the same access, dup())\n"
"still map it. A with block's exit is a plain close, which never leaves it pending;\n"
"unmap() always marks it pending while references remain.\n"
"\n"
"Destroy policy (IDL's): a segment this process created is destroyed (its name\n"
"removed) when this process's last reference to it goes, and at interpreter exit,\n"
"unless it was created with keep=True or set_destroy(False) was called. A file:\n"
"segment is never removed by closing, keep=True or not (only a hidden one never\n"
"finished is), and set_destroy() changes nothing for it. A segment this process\n"
"only attached is never removed by it: attaching never unlinks, unlike\n"
"multiprocessing.shared_memory's resource tracker. A process that ends abruptly\n"
"(os._exit, a signal) leaves its segments where they are: shmap.gc() (or `shmap gc`)\n"
"collects those it would have destroyed, and those created transient=True, once\n"
"nobody uses them.\n"
"\n"
"Locks. seg.lock() takes the segment's shared lock (many holders) or, with\n"
"exclusive=True, its exclusive one (one holder, no shared ones), across processes\n"
"and threads, and returns a shmap.Lock that holds it until release() or the end of\n"
"a with block:\n"
"\n"
"    >>> with seg.lock(exclusive=True, timeout=2.0):\n"
"    ...     seg.array[:] = new_data\n"
"\n"
"shmap.open(name, hold=True) is CFITSIO's hold-while-open: the Segment holds the\n"
"shared lock (read-only) or the exclusive one (readonly=False) until it is closed, so\n"
"opens wait for each other.\n"
"\n"
"A holder killed with SIGKILL never blocks anyone for good: the next exclusive locker\n"
"gets the lock, a shmap.OwnerDiedWarning, and Lock.owner_died naming the dead pid.\n"
"\n"
"Change notification. seg.publish() bumps the generation and wakes every process\n"
"blocked in seg.wait(); seg.read_frame() copies a frame that is never torn, waiting\n"
"for one if needed, when the writer brackets its writes with seg.write_begin() and\n"
"seg.publish(). A segment created with ring=True keeps its last N frames (N is the\n"
"first dimension).\n"
"\n"
"Anonymous segments. create('memfd:', ...) makes a segment with no name; another\n"
"process attaches it with shmap.open_fd() on its descriptor, Segment.fileno(),\n"
"passed to a child (subprocess's pass_fds) or over a Unix socket.\n"
"\n"
"Raw mappings. shmap.open(name, dtype=..., shape=..., offset=...) maps an object\n"
"without a shmap header (a foreign shared-memory object, a plain file 'file:PATH')\n"
"as an array; private=True maps a file copy-on-write.\n"
"\n"
"Errors. Failures of the library raise\n"
"  FileNotFoundError  no such segment (ENOENT)\n"
"  FileExistsError    the name exists (EEXIST)\n"
"  PermissionError    EACCES, EPERM\n"
"  TimeoutError       a blocking call (lock, wait, read_frame, delete, open with\n"
"                     hold=True) ran out of its timeout (ETIMEDOUT)\n"
"  BlockingIOError    the same call given timeout=0 would have had to wait (EBUSY for\n"
"                     locks, holds and delete, EAGAIN for wait and read_frame)\n"
"  shmap.DtypeError   an invalid or unsupported element type (also a TypeError)\n"
"  shmap.ArgumentError  a bad name, shape, size, keyword or argument (also a\n"
"                     ValueError)\n"
"  shmap.OutOfMemoryError  the system has not the memory asked for (ENOMEM: a\n"
"                     segment larger than the memory and swap left, or than the\n"
"                     process's memory cgroup allows; a mapping the kernel\n"
"                     refuses; also a MemoryError)\n"
"  shmap.ReadOnlyError  EREADONLY: a write through a read-only Segment, or a lock by\n"
"                     a user who may not write the segment (also a PermissionError)\n"
"  shmap.Error        anything else: not a shmap segment, corrupt header, wrong byte\n"
"                     order, unmap pending, raw mapping (ERAW), segment removed while\n"
"                     waiting (EREMOVED), keyword area full, ENOSPC...\n"
"shmap.Error is a subclass of OSError. Every exception raised for a library failure\n"
"carries .code (the library's negative return code, equal to one of the module's E*\n"
"constants or to -errno), .errname ('ENOENT', 'SHMAP_EPENDING') and .errno (the\n"
"positive errno for system failures, else .code); its message is the library's\n"
"detail naming the segment, size or field at fault. Wrong Python types raise\n"
"TypeError, and out-of-range Python values ValueError, as usual.\n"
"\n"
"Threads and signals. The GIL is released while the library creates, opens, closes,\n"
"lists, describes (info(), Segment.info), deletes or cleans up (gc()) segments, and\n"
"while lock(), wait(), read_frame(), delete() and open(..., hold=True) wait.\n"
"While they wait they come back for Python's signal handlers whenever a signal\n"
"arrives (and every few ms), so Ctrl-C (KeyboardInterrupt) interrupts them at once,\n"
"without giving up their place: a writer waiting for readers keeps new readers out\n"
"for the whole wait, as in C. Their timeouts are kept exactly.\n"
"A Segment may be shared between threads; closing it while another thread waits in\n"
"it, or reads it, makes that call raise ValueError (or return what it read).");

PyDoc_STRVAR(create_doc,
"create($module, /, name, shape, dtype, *, mode=0o600, keep=False, transient=False,\n"
"       replace=False, exist_ok=False, prefault=False, keywords=None,\n"
"       keyword_capacity=0, ring=False, hugepages=False, hidden=False)\n"
"--\n"
"\n"
"Create a segment holding a zero-filled array and open it read-write.\n"
"\n"
"The segment appears under its name only when complete: its memory is reserved first,\n"
"so a full /dev/shm raises an OSError (ENOSPC) here rather than a crash at the first\n"
"write.\n"
"\n"
"name      the segment name, a str or bytes ('frames', '/frames', 'shm://frames',\n"
"          'sysv://KEY', 'file:PATH'; see the module's help on names that are not\n"
"          UTF-8), or 'memfd:' (or 'memfd:LABEL') for anonymous memory with no\n"
"          name, which other processes reach through its descriptor: see\n"
"          Segment.fileno() and shmap.open_fd().\n"
"shape     an int or a sequence of 1 to 8 ints, each >= 1, in C order (last index\n"
"          fastest, as numpy).\n"
"dtype     the element type: a numpy dtype or type (np.float32, np.dtype('<f4'),\n"
"          complex), a numpy string ('f4', '<f8', 'float32', 'c8', '?'), a shmap\n"
"          name ('u8' ... 'i64', 'f16', 'f32', 'f64', 'c64', 'c128', 'bool'), or an\n"
"          IDL name ('byte', 'int', 'uint', 'long', 'ulong', 'long64', 'ulong64',\n"
"          'float', 'double', 'complex', 'dcomplex'; SHMMAP's keywords 'integer',\n"
"          'l64', 'ul64'). In strings, shmap's and IDL's\n"
"          meanings win over numpy's: 'int' is int16, 'long' int32, 'float' float32,\n"
"          'f16' float16, and 'i8' and 'u8' are 8-bit (write np.int64, 'int64' or\n"
"          '<i8' for numpy's 64-bit meaning). A record segment is made by a\n"
"          field list, 'x:f4,y:f4,flag:u1' (also written 'record:x:f4,...' as\n"
"          the CLI does; 'pos:f8[3]' is a field of 3; numpy's unnamed 'f4,u1'\n"
"          names them f0, f1, with shmap's meanings: 'i8,i8' is two int8), or a\n"
"          structured numpy dtype (np.dtype([('x', 'f4'), ('flag', 'u1')])); its\n"
"          fields are of the types above or 1-d subarrays of them, packed: a dtype\n"
"          with padding (align=True, explicit offsets, a larger itemsize) is\n"
"          refused, not repacked; numpy.lib.recfunctions.repack_fields() packs it.\n"
"mode      permission bits 0o1 to 0o777, less the umask (default 0o600). Set-user-id,\n"
"          set-group-id and sticky bits (0o7000) are refused, as by the CLI, and so is\n"
"          0, which the library takes for its default: to make a segment nobody may\n"
"          open, create it, then call shmap.chmod(name, 0).\n"
"keep      keep the segment when this process's last reference goes (default: a\n"
"          segment you create is destroyed then, as in IDL, and counts as transient,\n"
"          so shmap.gc() removes it if this process is killed before it can). A\n"
"          file: segment is kept either way, and counts as transient only with\n"
"          transient=True.\n"
"transient record it as transient, with keep=True too: shmap.gc() (or `shmap gc`)\n"
"          may remove it once its creator and users are gone.\n"
"replace   replace an existing segment of that name, atomically (an object of\n"
"          that name that is not a shmap segment is refused: shmap.Error EFORMAT).\n"
"          System V's is not atomic (a key cannot move): the old segment goes first,\n"
"          and a process killed before the new one is complete leaves neither.\n"
"exist_ok  if the name exists with this type and shape, open it read-write instead\n"
"          (raise shmap.Error with code EMISMATCH if the type or shape differ, or if\n"
"          one is a ring and the other is not); Segment.created says which\n"
"          happened, except in the process that created the segment while it\n"
"          still maps it read-write: the open then shares that mapping and its\n"
"          created, True (see Segment.created).\n"
"prefault  fault every page in now (MAP_POPULATE), so that first writes do not.\n"
"          For gigabytes that takes seconds, and Ctrl-C waits for it: the\n"
"          KeyboardInterrupt comes once create() is done.\n"
"keywords  a mapping (a dict, or anything with items()) of keywords to set:\n"
"          {'EXPTIME': 1.5, 'OBJECT': ('M31', 'target name')}; a (value, comment)\n"
"          pair sets a comment. A new segment has them before it appears under its\n"
"          name, so no other process sees it without them; an existing one that\n"
"          exist_ok opens gets them set on it, all or none (a value without a\n"
"          comment keeps the keyword's comment).\n"
"keyword_capacity\n"
"          keyword slots, up to 4096 (0 for the library's default: 32, or as many\n"
"          as keywords gives when that is more).\n"
"ring      make a ring of frames: the first dimension is the number of frames N,\n"
"          and frame number g is written at index g % N (see Segment.write_begin()\n"
"          and Segment.read_frame()).\n"
"hugepages put the segment in huge pages, from the pool the administrator reserved\n"
"          with `sysctl vm.nr_hugepages=N`: for 'memfd:' (MFD_HUGETLB), 'sysv://KEY'\n"
"          (SHM_HUGETLB), or 'file:PATH' on a hugetlbfs mount (where a file is in huge\n"
"          pages anyway). The object's size is rounded up to whole huge pages\n"
"          (info['size'] shows it). Refused with shmap.Error, code ESTORE, for a POSIX\n"
"          name (tmpfs has no huge pages to ask for: mounting /dev/shm with\n"
"          huge=within_size gives transparent ones, see docs/OPERATIONS.md), for a file\n"
"          elsewhere than on hugetlbfs, and where none are configured (vm.nr_hugepages\n"
"          is 0: the message says how to reserve some); OSError ENOSPC when too few are\n"
"          free; PermissionError when this user may not use them for System V.\n"
"hidden    make the segment complete but give it its name only at\n"
"          Segment.finish_create(), so that it can be filled first and nobody ever opens\n"
"          it half-filled: until then a POSIX or file segment is under a hidden name\n"
"          (which shmap.gc() removes if this process dies), a System V one is marked as\n"
"          being created. The name is checked free at once (unless replace). Closed\n"
"          before it is finished, it is removed, even with keep=True.\n"
"\n"
"Returns a read-write Segment. Raises FileExistsError if the name exists (without\n"
"replace or exist_ok), shmap.DtypeError, shmap.ArgumentError (also for a mode or\n"
"keyword_capacity out of range, naming it, and for mode=0), TypeError (an argument\n"
"of the wrong type, such as keywords that are not a mapping), shmap.OutOfMemoryError\n"
"(ENOMEM: a segment of 64 MiB or more larger than the memory and swap left, or than\n"
"the process's memory cgroup allows), or OSError (ENOSPC: /dev/shm is full).");

PyDoc_STRVAR(open_doc,
"open($module, /, name, readonly=True, *, dtype=None, shape=None, offset=0,\n"
"     private=False, template=None, hold=False, timeout=None)\n"
"--\n"
"\n"
"Attach an existing segment by name; or, given dtype and shape (or template), map\n"
"any object as a raw array.\n"
"\n"
"Described segments (the default). Everything in the segment is checked before use\n"
"(magic, version, byte order, checksum, type, dimensions and offsets against the size\n"
"the kernel reports); a segment that fails raises shmap.Error. A read-only open maps\n"
"the memory read-only and its arrays refuse writes. If this process already maps the\n"
"segment with the same access, the new Segment is another reference to that mapping.\n"
"If that mapping is unmap-pending (close() was called on a Segment of it while its\n"
"arrays or buffers lived, or unmap() while any reference did), the open raises\n"
"shmap.Error with code EPENDING until every reference is gone (see Segment.close()).\n"
"Opening never removes or changes anything.\n"
"\n"
"name      'frames', '/frames', 'shm://frames', 'sysv://KEY', 'sysv://id=N',\n"
"          'file:PATH': a str or bytes, as for create().\n"
"readonly  map read-only (the default, or None) or, with False, read-write.\n"
"private   map copy-on-write (files and POSIX objects; System V refuses it): the\n"
"          array is writable, and neither its writes, keyword changes nor publish()\n"
"          ever reach the object (its generation, wait() and read_frame() follow the\n"
"          object's writers); only read permission is needed. readonly does not\n"
"          apply (an explicit readonly=True is a ValueError). Private opens of one\n"
"          object in this process share one copy, as opens with the same access\n"
"          always do.\n"
"hold      hold-while-open (CFITSIO's shmem:// semantics): a read-only open takes the\n"
"          segment's shared lock and a read-write open its exclusive lock, and the\n"
"          Segment holds it until close() (or the end of its with block, or exit), so\n"
"          opens wait for each other: read-only holds share, a read-write hold excludes\n"
"          every other hold and lock. The Segment's .held is True meanwhile; its lock()\n"
"          is refused (it would wait for the hold). Arrays taken from it keep the memory\n"
"          after close(), not the lock. Another held open of the same segment in this\n"
"          process waits like one in another process. shmap.delete() waits for holds.\n"
"          A held Segment pickles as a plain open of the same access (the hold is this\n"
"          process's), and a forked child holds nothing.\n"
"timeout   with hold=True, seconds to wait for the lock: None (the default) waits for\n"
"          ever, 0 only tries. The wait releases the GIL and Ctrl-C ends it with\n"
"          KeyboardInterrupt, nothing left open or held. A holder that was killed does\n"
"          not block it: its hold is found dead and dropped within a fraction of a\n"
"          second. If a writer died holding the exclusive lock, a read-write hold is\n"
"          taken all the same but the data may be half-written: a shmap.OwnerDiedWarning\n"
"          is issued (as by Segment.lock()); if warnings are errors, the Segment is\n"
"          closed and the warning raised.\n"
"\n"
"Raw mappings: objects without a shmap header, such as a foreign POSIX object or a\n"
"plain file, mapped as an array of the type and shape you give.\n"
"dtype     the element type, as for create(); with shape.\n"
"shape     the dimensions, as for create(); with dtype.\n"
"template  instead of dtype and shape: take them from a Segment, or from the\n"
"          described segment of that name.\n"
"offset    byte offset of the array in the object (IDL's OFFSET). Any offset works\n"
"          that is a multiple of the element's alignment (its size, a complex\n"
"          number's part's, up to 8: 1 for u1 and records, 4 for f4 and c8, 8 for f8\n"
"          and c16): 1, 4095 and 4097 are fine for u1.\n"
"A raw Segment has .raw True and no header: keywords, locks, publish, wait,\n"
"read_frame, write_begin, generation, attached and lock_info raise shmap.Error with\n"
"code ERAW; .info describes what it can. It never destroys anything, and is never\n"
"shared with other Segments.\n"
"\n"
"Returns a Segment. Raises FileNotFoundError, PermissionError, shmap.ArgumentError (a\n"
"bad name, or an offset the type cannot be aligned at: code EINVAL), shmap.DtypeError,\n"
"shmap.Error (not a shmap segment, corrupt, incomplete, unmap pending, or for a raw\n"
"mapping an object too small for the array: code ETRUNCATED, the message giving both\n"
"sizes; see .code), TypeError for a dtype without a shape (or the reverse) or an\n"
"offset without either, or a timeout without hold. With hold=True also\n"
"TimeoutError (naming the pids that hold the lock), BlockingIOError (EBUSY) for\n"
"timeout=0 when the lock is not free, shmap.ReadOnlyError (a PermissionError,\n"
"EREADONLY) for a read-only hold whose user may not write the segment, ValueError\n"
"with a raw or private mapping.");

PyDoc_STRVAR(open_fd_doc,
"open_fd($module, /, fd, readonly=True, *, private=False, hold=False, timeout=None)\n"
"--\n"
"\n"
"Attach the segment behind a file descriptor: a memfd segment's descriptor received\n"
"from its creator, or any descriptor of a shmap segment in a file.\n"
"\n"
"This is how a memfd segment (create('memfd:', ...)), which has no name, is shared:\n"
"its creator passes Segment.fileno() to a child, by inheritance\n"
"(subprocess.Popen(..., pass_fds=[fd]), os.fork()) or over a Unix socket\n"
"(socket.send_fds()), and the child attaches it here:\n"
"\n"
"    seg = shmap.create('memfd:', (512, 512), 'f4')\n"
"    subprocess.run([sys.executable, 'reader.py', str(seg.fileno())],\n"
"                   pass_fds=[seg.fileno()])\n"
"\n"
"    # reader.py\n"
"    seg = shmap.open_fd(int(sys.argv[1]))\n"
"\n"
"The segment is checked as open() checks one. The descriptor is duplicated: the\n"
"caller keeps its own and closes it when it likes; the Segment keeps the memory.\n"
"\n"
"fd        the descriptor, an int, or an object with a fileno() method (a Segment, a\n"
"          file object).\n"
"readonly  map read-only (the default, or None) or, with False, read-write, which\n"
"          needs a descriptor open for writing (a memfd's always is).\n"
"private, hold, timeout\n"
"          as for open(): a copy-on-write mapping; hold the shared (read-only) or\n"
"          exclusive (read-write) lock until close(), waiting at most timeout seconds.\n"
"\n"
"Returns a Segment named as the descriptor's object is ('memfd:LABEL', or\n"
"'file:PATH'). Raises OSError (EBADF) for a descriptor that is not open, shmap.Error\n"
"(EINVAL) for one that is not a regular file or memfd, PermissionError for\n"
"readonly=False on a descriptor open read-only, the errors of open() for what is\n"
"found there (shmap.Error EFORMAT: not a shmap segment), and with hold=True those of\n"
"a held open(); TypeError for an fd that is neither an int nor has fileno().");

PyDoc_STRVAR(delete_doc,
"delete($module, /, name, *, timeout=None, force=False)\n"
"--\n"
"\n"
"Delete a segment once nobody holds its lock (CFITSIO's deletion): take the exclusive\n"
"lock, remove the name, release the lock. name is a str or bytes, as for open().\n"
"\n"
"It waits, as an exclusive lock() does, for the processes that hold the lock (new\n"
"readers queue behind it), at most timeout seconds (None: for ever; 0: only try).\n"
"A segment whose creator is still writing it is waited for within the timeout too,\n"
"two seconds at most, as open() waits for it (not at all with 0).\n"
"Processes that map the segment without a lock are not waited for. Every process\n"
"that maps it, this one included, keeps its memory until it unmaps; the memory is\n"
"freed after the last one. That includes this process's unmap-pending mappings\n"
"(arrays of a closed Segment): the lock is then taken through a mapping made for\n"
"the call and unmapped after it, so those arrays are neither revived nor disturbed.\n"
"A lock this process holds (a shmap.Lock, a Segment opened with hold=True) must be\n"
"released first. Another Python thread may do that while the call waits; when there\n"
"is none, the call would wait for itself, so it raises shmap.Error with errno\n"
"EDEADLK at once instead, as Segment.lock() does on a Segment that holds the lock\n"
"already. Ctrl-C interrupts the wait.\n"
"\n"
"force     remove the name at once, without the lock; also removes an object that is\n"
"          not a shmap segment (which is refused otherwise).\n"
"\n"
"Returns None. Raises FileNotFoundError if there is no such segment, TimeoutError\n"
"(naming the pids that hold the lock), BlockingIOError with timeout=0 when the lock\n"
"is held, shmap.Error (errno EDEADLK) when this process holds it and no other\n"
"Python thread could let go, PermissionError if it may not be opened read-write or\n"
"removed, shmap.Error (EFORMAT) for an object that is not a shmap segment without\n"
"force.");

PyDoc_STRVAR(chmod_doc,
"chmod($module, /, name, mode)\n"
"--\n"
"\n"
"Set the permission bits of a segment, as os.chmod() does for a file: mode is an\n"
"int, 0 to 0o777 (0o640: the owner reads and writes, the group reads). The umask\n"
"does not apply; set-id and sticky bits cannot be set.\n"
"\n"
"It works on whatever object the name picks (a segment, a foreign object, a file)\n"
"and never follows a symbolic link at the name: a link, a FIFO or a directory there\n"
"is refused. Processes that map the segment keep it; the mode decides who may open\n"
"it from now on. Only its owner or root may change it (for System V, its creator\n"
"too). The new mode shows in info() and list() at once.\n"
"\n"
"Returns None. Raises FileNotFoundError if there is no such object, PermissionError\n"
"(saying who may) if this user may not change it, shmap.ArgumentError for a bad\n"
"mode or name, shmap.Error (EINVAL) for an object that is not a regular file.");

PyDoc_STRVAR(chown_doc,
"chown($module, /, name, uid=-1, gid=-1)\n"
"--\n"
"\n"
"Change the owner and group of a segment, as os.chown() does for a file: uid and\n"
"gid are numbers (pwd.getpwnam(user).pw_uid gives one from a name), -1 keeps what\n"
"the segment has.\n"
"\n"
"Only root may give a POSIX segment or a file to another user; its owner may give it\n"
"to one of the owner's groups. A System V segment's owner or creator may give it to\n"
"anyone. Like chmod(), it works on whatever object the name picks and never follows\n"
"a symbolic link at the name.\n"
"\n"
"Returns None. Raises FileNotFoundError, PermissionError (saying who may),\n"
"shmap.ArgumentError for a bad id or name, shmap.Error (EINVAL) for an object that\n"
"is not a regular file.");

PyDoc_STRVAR(perm_doc,
"perm($module, /, name)\n"
"--\n"
"\n"
"Return the permission bits and owner of the object a name picks, as the kernel\n"
"reports them: a shmap.Perm, a tuple (mode, uid, gid) of ints with named fields, as\n"
"os.stat_result is, where mode holds the permission bits only (0o640;\n"
"os.stat(path).st_mode & 0o7777 for a file).\n"
"\n"
"It reads what chmod() and chown() change, on any object the name picks (a segment,\n"
"a foreign object, a file, a System V segment), without opening it: the user needs\n"
"no read access to it, only to the directory a file is in. The values are those of\n"
"info()'s mode (there a string, '0640'), uid and gid, and of `shmap info --json`.\n"
"\n"
"    >>> mode, uid, gid = shmap.perm('frames')\n"
"    >>> shmap.chmod('frames', shmap.perm('frames').mode | 0o040)   # g+r\n"
"\n"
"Raises FileNotFoundError if there is no such object, PermissionError if the path\n"
"of a file cannot be searched, shmap.ArgumentError for a bad name, shmap.Error\n"
"(ESTORE) for 'memfd:', which names no object, shmap.Error (EINVAL) for an object\n"
"that is not a regular file.");

PyDoc_STRVAR(list_doc,
"list($module, /, all=False)\n"
"--\n"
"\n"
"List the segments on the system, sorted by name.\n"
"\n"
"Returns a list of dicts with the same fields, values and types as\n"
"`shmap ls --json` (see info(); attached, lock and keywords are read from a copy\n"
"of each header and keyword area, a snapshot: no segment is opened; mapped_by and\n"
"mapped_by_unseen are None, as /proc is not searched). With\n"
"all=True, shared-memory objects that are not shmap segments are listed too, as\n"
"dicts with name, shmap=False, store, os_handle, size, mode, uid, gid, owner,\n"
"group; dtype, numpy, record_fields, elsize, ndim, shape, nelem, bytes,\n"
"creator_pid, attached, generation and created, all None; error (why it is not a\n"
"segment, as info() would say: 'segment is still being created by pid N', 'not a\n"
"shmap segment (...)'), error_code and deleted. A segment whose keywords a\n"
"writer kept changing for a second has keywords=None. Names are decoded as os.fsdecode() does\n"
"(surrogateescape), so each one, byte for byte the object's name, opens and deletes\n"
"it, but for a name with a control character, which no shmap call takes (see the\n"
"module's help): such a segment is listed only with all=True, as an object with an\n"
"error. Raises OSError if the store cannot be listed. An object this user may not\n"
"open is left out (listed with all=True), but running out of descriptors or memory\n"
"fails the whole call, as every later object would fail alike: shmap.Error with\n"
"errno EMFILE or ENFILE ('too many open files: cannot open /dev/shm/NAME to list it\n"
"(this process's limit, ulimit -n, is 1024)'), or shmap.OutOfMemoryError. A System V\n"
"segment is attached whole to be read: one larger than the address-space limit\n"
"(ulimit -v) itself is left out, or listed with all=True with an error saying so.");

PyDoc_STRVAR(info_doc,
"info($module, /, name, *, dtype=None, shape=None, offset=0, private=False,\n"
"     template=None)\n"
"--\n"
"\n"
"Describe a segment by name (a str or bytes, as for open()), without keeping it\n"
"mapped; or, given dtype and shape (or template), describe any object as the raw\n"
"array that open() would map.\n"
"\n"
"Returns a dict with the fields of `shmap info NAME --json`, in the same order and\n"
"with the same types: name, shmap (True), store, os_handle, size (of the object),\n"
"mode ('0600'), uid, gid, owner, group (names or None), version, dtype (shmap's\n"
"name: 'f32', 'record'), numpy ('<f4', or None for records), record_fields (the field\n"
"list, or None), elsize, ndim, shape (a list), nelem, bytes, data_offset,\n"
"creator_pid, creator_uid, attached (the processes in the attach table, those that\n"
"opened it read-write or took a lock: a list of dicts as Segment.attached gives),\n"
"lock (the lock state, as Segment.lock_info gives), generation, created (ISO 8601\n"
"UTC with milliseconds), created_ns, transient, flags,\n"
"keyword_capacity, keywords (name -> value, in the order set), keyword_comments\n"
"(name -> comment, for those that have one), ring (a ring of frames), ring_length\n"
"and frame_size (None unless a ring), published and published_ns (the last publish,\n"
"as created is given; None if never), write (the frame write in progress or left\n"
"unfinished: a dict with state, 'none', 'in_progress', 'abandoned' when its writer\n"
"died mid-frame or 'aborted', and pid, its writer or None; None in list()), deleted\n"
"(True for a System V segment deleted while processes still attach it, described\n"
"as sysv://id=N; else False), mapped_by\n"
"(the other processes that map it outside the attach table, read-only opens that\n"
"never locked, found in /proc: dicts with pid, start and writable; None if /proc\n"
"cannot be read; this process is not listed), mapped_by_unseen (processes whose maps\n"
"this user cannot read and that could have opened it; -1 if /proc hides them).\n"
"Keyword floats that are nan or infinite stay floats here (the JSON prints null).\n"
"\n"
"Raw descriptions, as `shmap info NAME --dtype T --shape D,... [--offset B]\n"
"[--private] --json` gives them, for an object without a shmap header (a plain\n"
"file, a foreign POSIX object):\n"
"dtype, shape, offset, template\n"
"          as for open(): the element type and dimensions (or a Segment or segment\n"
"          name to take them from), and the byte offset of the array in the object.\n"
"private   map the object copy-on-write to read it, as --private does (what is read\n"
"          is the same; a raw description's field private says it was asked).\n"
"The dict then has name, shmap (False), raw (True), store ... group as above, dtype\n"
"... bytes from the description, data_offset (the offset), private, and\n"
"creator_pid, attached, generation and created as None (no header records them):\n"
"Segment.info of the raw mapping. The object must hold offset + bytes bytes.\n"
"\n"
"Raises as open() does: FileNotFoundError, PermissionError, shmap.Error (EFORMAT:\n"
"not a shmap segment, when no dtype is given; ETRUNCATED: an object too small for\n"
"the raw array), shmap.ArgumentError (EINVAL: an offset the type cannot be aligned\n"
"at), shmap.DtypeError, TypeError (dtype without shape or the reverse, an offset\n"
"without either).");

PyDoc_STRVAR(unique_name_doc,
"unique_name($module, /, prefix=None)\n"
"--\n"
"\n"
"Return a fresh name that no segment has now (IDL's GET_NAME), such as\n"
"'shmap-4f2a9c1e-1', starting with prefix (default 'shmap'). Another process may\n"
"still take it before you do: create() is exclusive, so that is an error, never a\n"
"silent overwrite. The names are POSIX shared-memory names ('/frames' and\n"
"'shm://frames' give 'frames-...'). Raises shmap.ArgumentError (code EBADNAME) for a\n"
"prefix that is not a valid name or names another store ('file:...', 'sysv://...').");

PyDoc_STRVAR(check_name_doc,
"check_name($module, /, name)\n"
"--\n"
"\n"
"Check a segment name (a str or bytes, as for open()) without touching any object,\n"
"and return the store it picks: 'posix' ('frames', '/frames', 'shm://frames'),\n"
"'sysv' ('sysv://0x5eed', 'sysv://id=N'), 'file' ('file:/path') or 'memfd'\n"
"('memfd:'). Whether the object exists is not asked: open() or perm() tell.\n"
"\n"
"    >>> shmap.check_name('shm://frames')\n"
"    'posix'\n"
"\n"
"Raises shmap.ArgumentError (code EBADNAME) with the library's reason for a name\n"
"that is not valid (empty, a '/' inside a POSIX name, '.' or '..', the reserved\n"
"'.shmap-' start, too long, a NUL inside, a str the file-system encoding cannot\n"
"encode), shmap.Error (code ESTORE) for a store this build cannot use, TypeError\n"
"for a name that is neither str nor bytes.");

PyDoc_STRVAR(mappings_doc,
"mappings($module, /)\n"
"--\n"
"\n"
"List this process's mappings (IDL's HELP, /SHARED_MEMORY).\n"
"\n"
"Returns a list of dicts: name, store, os_handle, dtype, numpy, record_fields, shape\n"
"(a list), bytes, offset (of the data in the mapping), refs (references open: Segments,\n"
"arrays and buffers), pending (unmap-pending), writable, destroy (the segment is\n"
"removed when the last reference goes). Raises MemoryError only.");

PyDoc_STRVAR(gc_doc,
"gc($module, /, prefix=None, *, dry_run=False)\n"
"--\n"
"\n"
"Clean up after dead processes, as `shmap gc` does, and return what was done: a list\n"
"of shmap.GcEvent, one per action, in the order the objects were looked at.\n"
"\n"
"It looks at every POSIX shared-memory object (/dev/shm) and every System V segment\n"
"whose name starts with prefix:\n"
"\n"
"- a transient segment (created with transient=True, or without keep=True: one its\n"
"  creator would have destroyed) is removed when its creator is dead (pid and start\n"
"  time: a reused pid is not taken for it), no live process is in its attach table\n"
"  and no process maps it ('removed_transient'). One that processes this user\n"
"  cannot inspect may map (other users' processes, when gc runs as a user other than\n"
"  root) is kept, and said so ('kept_transient', the reason in message). A persistent\n"
"  segment is never removed;\n"
"- any other segment this user may write gets the attach slots of dead processes\n"
"  cleared, and their locks released ('cleared_slots');\n"
"- what a creation whose process died left is removed: a hidden\n"
"  '.shmap-tmp-PID-N-NAME' object ('removed_leftover'), or a System V segment still\n"
"  marked as being created ('removed_unfinished').\n"
"What this user may not remove (another user's, in the sticky /dev/shm; a System V\n"
"segment it neither owns nor created) is kept, in a dry run too, and said so\n"
"('kept_transient', 'kept_leftover', 'kept_unfinished', message naming who may), and\n"
"so is a System V segment larger than this process's address-space limit, which it\n"
"cannot attach to look at ('kept_unattached').\n"
"Objects that are not shmap segments are never touched.\n"
"\n"
"prefix    only objects whose name starts with this, a str or bytes: the POSIX name\n"
"          without its '/' ('frames' matches 'frames-1', and the hidden leftovers of\n"
"          such names, '.shmap-tmp-PID-N-frames-1'), and for System V the canonical\n"
"          name ('sysv://0x00005eed', 'sysv://id=N'). None: everything this user can see.\n"
"dry_run   change nothing: report what would be done (the events have dry_run True).\n"
"\n"
"An action that fails on one object (this user may not remove it, say) does not stop\n"
"the walk and raises nothing: its event has a non-zero status and the library's message.\n"
"To learn whether any process has a POSIX object open, the call holds a lease on it\n"
"for a moment; the kernel signals a lease break with SIGURG, which is ignored unless\n"
"the program handles it.\n"
"Limits: a process of another pid namespace (another container sharing /dev/shm) that\n"
"created a transient segment and no longer maps it cannot be told from a dead one; a\n"
"process that attaches between the check and the removal keeps its mapping, as after\n"
"delete(force=True).\n"
"\n"
"Returns a list (empty when there was nothing to do). Raises OSError (PermissionError,\n"
"...) when a store cannot be listed at all, and when the process runs out of\n"
"descriptors or memory, which would pass every later object by (shmap.Error with\n"
"errno EMFILE, 'too many open files: cannot open /dev/shm/NAME (...)';\n"
"shmap.OutOfMemoryError, also for a System V segment larger than the address space\n"
"left): actions already done stay done;\n"
"TypeError or ValueError for a bad prefix.");

PyDoc_STRVAR(parse_dtype_doc,
"parse_dtype($module, /, dtype)\n"
"--\n"
"\n"
"Return the numpy dtype that create() would store for a type spelling, following\n"
"the same rules (shmap and IDL names win over numpy's: parse_dtype('int') is int16,\n"
"parse_dtype('i8') int8).\n"
"Raises shmap.DtypeError for a type shmap cannot store.");

PyDoc_STRVAR(atexit_doc,
"_atexit($module, /)\n"
"--\n"
"\n"
"Registered with atexit: close every open Segment, and destroy the segments this\n"
"process created (without keep) that arrays still map. Not for direct use.");
PyDoc_STRVAR(gil_checks_doc,
"_gil_checks($module, /)\n"
"--\n"
"\n"
"How many times, so far in this process, a blocking call took the GIL back while\n"
"it waited (to run signal handlers, or because its Segment was closed). For tests.");

/* ---------------------------------------------------------------------------------------- */

PyDoc_STRVAR(segment_doc,
"An open shmap segment: one reference to a mapping of a named array.\n"
"\n"
"Made by shmap.create() and shmap.open(), not directly. The data is seg.array, a\n"
"numpy.ndarray over the shared memory (zero copy); the Segment also exports it\n"
"through the buffer protocol (numpy.asarray(seg), memoryview(seg)).\n"
"\n"
"Locks: lock() returns a shmap.Lock (a context manager); open(..., hold=True) makes a\n"
"Segment that holds the lock until it is closed (held). Change notification:\n"
"publish(), wait(), write_begin() and read_frame(). State: generation, seen,\n"
"write_state, attached, lock_info, locked, held, info, keywords.\n"
"\n"
"A Segment is a context manager that closes on exit, and pickles as a reference by\n"
"name: unpickling reopens the segment with the same access (for multiprocessing).\n"
"A memfd segment, which has no name, refuses to pickle (TypeError): pass its\n"
"descriptor, fileno(), and attach it with shmap.open_fd(). Within the process,\n"
"dup() and copy.copy() give another Segment on the same mapping, memfd or not.\n"
"Attributes that read the segment raise ValueError once it is closed; name, dtype,\n"
"shape, ndim, nbytes, readonly, closed, held, raw, private, ring, created, offset and\n"
"seen stay.");

PyDoc_STRVAR(segment_array_doc,
"The data, as a numpy.ndarray over the shared memory (zero copy, C order).\n"
"\n"
"Writable only when the segment is open read-write. Each access returns a new ndarray\n"
"over the same memory; each holds its own reference to the mapping, so it stays valid\n"
"after close() and the memory is unmapped when the last array goes. Raises ValueError\n"
"if the segment is closed.");

PyDoc_STRVAR(segment_name_doc, "The canonical name of the segment ('frames').");
PyDoc_STRVAR(segment_dtype_doc,
"The element type as a numpy dtype (structured for record segments).");
PyDoc_STRVAR(segment_shape_doc, "The shape, a tuple of ints, C order.");
PyDoc_STRVAR(segment_ndim_doc, "The number of dimensions (1 to 8).");
PyDoc_STRVAR(segment_nbytes_doc, "Bytes of data: the product of the shape times the element size.");
PyDoc_STRVAR(segment_store_doc,
"The backing store, a str: 'posix' (POSIX shared memory, /dev/shm), 'sysv' (System V\n"
"shared memory), 'file' (a regular file) or 'memfd' (anonymous memory). Raises\n"
"ValueError if the segment is closed.");
PyDoc_STRVAR(segment_os_handle_doc,
"The OS handle behind the segment (IDL's GET_OS_HANDLE), a str: the POSIX name\n"
"('/frames'), the System V id ('123'), or the file's path. Raises ValueError if the\n"
"segment is closed.");
PyDoc_STRVAR(segment_generation_doc,
"The generation counter, an int: how many frames were published (read live). Each\n"
"publish counts one; a frame whose writer died in the middle of it (a plain segment)\n"
"counts too, as lost, when the next write ends.\n"
"Raises ValueError if the segment is closed, shmap.Error (ERAW) for a raw mapping.");
PyDoc_STRVAR(segment_readonly_doc, "True if the segment is open read-only.");
PyDoc_STRVAR(segment_closed_doc, "True once close() or unmap() was called.");
PyDoc_STRVAR(segment_held_doc,
"True while this Segment holds the segment's lock because it was opened with\n"
"hold=True: the shared lock for a read-only Segment, the exclusive one for a\n"
"read-write one. False once closed, and in a forked child (the hold is the parent's).");
PyDoc_STRVAR(segment_info_doc,
"A dict describing the segment, with the fields of shmap.info() and of\n"
"`shmap info NAME --json` (read now, attach table included). For a raw mapping, the\n"
"fields `shmap info NAME --dtype T --shape S --json` prints: name, shmap (False), raw\n"
"(True), store ... group as for a segment, dtype ... bytes from the description,\n"
"data_offset, private, and creator_pid, attached, generation and created as None (a\n"
"raw object records none of them). Raises ValueError if the segment is closed.");
PyDoc_STRVAR(segment_raw_doc,
"True for a raw mapping (open() with dtype and shape, or template): no header.");
PyDoc_STRVAR(segment_private_doc,
"True for a private, copy-on-write mapping (open(..., private=True)): writes stay in\n"
"this process.");
PyDoc_STRVAR(segment_ring_doc,
"True for a ring of frames (create(..., ring=True)): the first dimension counts the\n"
"frames, and read_frame() and write_begin() work on one of them.");
PyDoc_STRVAR(segment_created_doc,
"True if this process created the segment behind this Segment's mapping (create()\n"
"made it), False if the mapping was made by opening one that was there.\n"
"\n"
"It belongs to the mapping, not to the call that returned this Segment: every Segment\n"
"of this process that shares the mapping says the same. So create(...,\n"
"exist_ok=True) tells its two outcomes apart by it in any process but the creator;\n"
"in the process that created the segment and still maps it read-write (its Segment,\n"
"a dup() or an array of it is alive), an exist_ok create() or an open() with\n"
"readonly=False shares that mapping and says True too, though the call made\n"
"nothing. Once every read-write reference is gone, an exist_ok create() makes a\n"
"mapping of its own and says False, where info['creator_pid'] == os.getpid() would\n"
"still be true. False for raw mappings, and in a child made by fork() (which made\n"
"nothing). Stays after close(). (info['created'] is the creation time.)");
PyDoc_STRVAR(segment_offset_doc,
"Byte offset of the data in the object, an int: page-aligned for a described segment\n"
"(after its header), the offset given for a raw mapping.");
PyDoc_STRVAR(segment_seen_doc,
"The generation this Segment has seen, an int that wait() and read_frame() wait to\n"
"pass and then advance. It starts at the generation when this Segment was made by\n"
"open(), open_fd() or create() (exist_ok=True too), even when another Segment of\n"
"this process maps the segment already: only what is published later is new to it.\n"
"dup() copies it. Set it to go back or skip: seen = 0 makes read_frame() return the\n"
"oldest frame a ring still holds (the latest for a plain segment), and\n"
"seen = seg.generation waits for the next publish.\n"
"Shared by the threads that use this Segment: give each reader thread a Segment of\n"
"its own.");
PyDoc_STRVAR(segment_attached_doc,
"The processes attached to the segment (those that opened it read-write or took a\n"
"lock), read now: a list of dicts\n"
"  pid       int\n"
"  alive     bool: still running (same pid and process start time)\n"
"  shared    int: shared holds it has\n"
"  writer    bool: it holds (or is taking) the exclusive lock\n"
"  start     int: process start time, clock ticks since boot (0 if unknown)\n"
"  writable  bool: it opened the segment read-write (False: a read-only opener that\n"
"            took a lock)\n"
"  other_pidns  bool: it runs in another pid namespace (a container sharing the\n"
"            segment): its pid means nothing here, so it cannot be checked and\n"
"            counts as alive\n"
"These are the `attached` entries of shmap.info(). Dead processes are listed\n"
"until a lock waiter or a new attacher clears them. Works on a read-only Segment.\n"
"Raises ValueError if the segment is closed, shmap.Error (ERAW) for a raw mapping.");
PyDoc_STRVAR(segment_lock_info_doc,
"The lock state, read now: a dict\n"
"  writer        pid holding (or taking) the exclusive lock, or None\n"
"  writer_alive  bool: that process is running\n"
"  writer_waiting  bool: that writer has claimed the lock but still waits for the\n"
"                shared holds to end (it holds nothing yet; new readers queue)\n"
"  shared        int: shared holds, over all processes\n"
"  waiters       bool: someone waited for the lock since its last release, or a\n"
"                writer waits for the shared holds to end\n"
"  owner_died    bool: a writer died holding it; the next exclusive locker is told\n"
"  dead_pid      the last writer found dead holding it (kept once the next locker\n"
"                is told), or None\n"
"  writer_other_pidns  bool: the writer runs in another pid namespace, so it cannot\n"
"                be checked and counts as alive\n"
"Works on a read-only Segment. Raises ValueError if the segment is closed,\n"
"shmap.Error (ERAW) for a raw mapping.");
PyDoc_STRVAR(segment_lock_holders_doc,
"lock_holders($self, /)\n"
"--\n"
"\n"
"Say who holds the segment's lock now, in the library's words, the sentence the\n"
"TimeoutError of lock() and delete() ends with: for a message telling a user who\n"
"blocks them.\n"
"\n"
"    >>> try:\n"
"    ...     lk = seg.lock(exclusive=True, timeout=0)\n"
"    ... except BlockingIOError:\n"
"    ...     print('busy:', seg.lock_holders())\n"
"    busy: the exclusive lock is held by pid 4242\n"
"\n"
"Returns a str: 'the exclusive lock is held by pid N' (or 'is being taken (waiting\n"
"for readers) by pid N', a writer that waits for the shared holds to end), 'shared\n"
"holds by pids N, M' ('shared hold by pid N' for one), both joined by '; '. A pid\n"
"of this process says '(this process)' ('(this process, through another handle)'\n"
"for the writer), a dead writer '(dead)'; dead readers are left out. When nobody\n"
"holds it it says 'a lock holder that has just let go', as after a wait that just\n"
"failed: locked and lock_info say whether anyone holds it. Works on a read-only\n"
"Segment. Raises ValueError if the segment is closed, shmap.Error (ERAW) for a raw\n"
"mapping.");
PyDoc_STRVAR(segment_locked_doc,
"True if any process holds the segment's lock, shared or exclusive (or is taking the\n"
"exclusive one): a snapshot, see lock_info. Raises as lock_info does.");
PyDoc_STRVAR(segment_write_state_doc,
"Whether a frame is being written (write_begin() without its publish() yet), and by\n"
"whom, read now: a tuple (state, pid)\n"
"  ('none', None)           no frame is being written\n"
"  ('in_progress', pid)     a running process is writing one\n"
"  ('abandoned', pid)       the process writing one died in the middle of it: the frame\n"
"                           stays half-written until a writer takes over\n"
"  ('aborted', pid)         the process writing one, alive, gave it up (write_abort()):\n"
"                           half-written until a writer writes it again\n"
"For a reader that got no whole frame (read_frame() timed out, or BlockingIOError for\n"
"timeout=0), or a torn one, to tell its user why. The writer is judged alive or dead\n"
"as read_frame() judges it (pid and start time, from /proc). A snapshot: the write may\n"
"end, or another begin, at once. Works on a read-only Segment and writes nothing.\n"
"Raises ValueError if the segment is closed, shmap.Error (ERAW) for a raw mapping.");
PyDoc_STRVAR(segment_keywords_doc,
"The segment's keywords, as a mutable mapping (shmap.Keywords).\n"
"\n"
"    seg.keywords['EXPTIME'] = 1.5\n"
"    seg.keywords['OBJECT'] = ('M31', 'target')   # a value and its comment\n"
"\n"
"Values are int, float, str or bool; names are stored upper-case and compared\n"
"case-insensitively.");

PyDoc_STRVAR(segment_publish_doc,
"publish($self, /)\n"
"--\n"
"\n"
"Mark a new version of the data: end the write begun by write_begin() if any, bump\n"
"the generation counter and wake every process waiting for it (wait(), read_frame(),\n"
"`shmap wait`). The generation moves two on (or more) when the write took over a\n"
"frame of a plain segment whose writer died in the middle of it (read_frame()). On\n"
"a private Segment it changes its own copy of the header only, and tells nobody,\n"
"itself included. Returns None. Raises ValueError if the segment is closed,\n"
"shmap.ReadOnlyError (a PermissionError, code EREADONLY) on a read-only Segment,\n"
"shmap.Error (ERAW) on a raw mapping.");

PyDoc_STRVAR(segment_lock_doc,
"lock($self, /, exclusive=False, timeout=None)\n"
"--\n"
"\n"
"Take the segment's shared lock (many holders at once) or, with exclusive=True, its\n"
"exclusive lock (one holder and no shared ones), and return a shmap.Lock holding it.\n"
"exclusive is a bool: anything else (lock(2.0) or lock(5), a timeout meant) raises\n"
"TypeError.\n"
"\n"
"The lock is taken here, at the call, not at __enter__: use the Lock in a with block,\n"
"which releases it at the end, or call its release():\n"
"\n"
"    with seg.lock(exclusive=True, timeout=2.0):\n"
"        seg.array[:] = data\n"
"        seg.publish()\n"
"\n"
"    lk = seg.lock()\n"
"    try:\n"
"        total = seg.array.sum()\n"
"    finally:\n"
"        lk.release()\n"
"\n"
"timeout   seconds to wait: None waits for ever, 0 only tries. The wait releases the\n"
"          GIL and comes back for signal handlers: Ctrl-C raises KeyboardInterrupt at\n"
"          once, and the lock is not taken. A handler runs inside the wait, which\n"
"          keeps its place meanwhile, so a handler that locks the same segment waits\n"
"          for a wait that cannot go on until it returns: give it a timeout.\n"
"\n"
"Locks are the library's: they exclude other processes and, through separate Lock\n"
"objects, other threads of this one (each Lock has its own reference to the\n"
"mapping), and a Lock outlives close() of its Segment. There is no upgrade: an\n"
"exclusive lock waits for every shared hold, this process's included. Writers are\n"
"preferred: a waiting writer holds back new readers. A read-only Segment can lock\n"
"when its user may write the segment (the header page is mapped read-write for it).\n"
"\n"
"One lock per thread and Segment: a thread that holds a Lock taken through this\n"
"Segment and asks this Segment for another gets shmap.Error (an OSError) with errno\n"
"EDEADLK at once, whatever the timeout. Any lock after an exclusive one, and an\n"
"exclusive one after a shared one, would wait for ever for the thread's own hold; a\n"
"shared one after a shared one would too as soon as a writer queues between them\n"
"(writers are preferred), so it is refused as well: pass the Lock held to the code\n"
"that needs it. A Lock another thread took through this Segment is waited for, and\n"
"so is one taken through another Segment (dup(), another open), even by this\n"
"thread: another thread may release it. To have another thread release a lock while\n"
"this one locks again, take that lock through another Segment.\n"
"\n"
"If the previous holder of the exclusive lock died holding it (killed, crashed), the\n"
"lock is taken all the same, but the data may be half-written: Lock.owner_died is\n"
"the dead process's pid and a shmap.OwnerDiedWarning is issued. If warnings are\n"
"errors, the lock is released and the warning raised.\n"
"\n"
"Returns a held shmap.Lock. Raises TimeoutError (naming the holders) when the\n"
"timeout passes, BlockingIOError (EBUSY) for timeout=0 when the lock is not free,\n"
"shmap.ReadOnlyError (a PermissionError, code EREADONLY) for a read-only Segment whose\n"
"user may not write the segment, shmap.Error with code ERAW for a raw mapping,\n"
"shmap.Error with errno EDEADLK when this thread holds a lock through this Segment\n"
"already (see above) or the Segment was opened with hold=True (it holds the lock\n"
"until close), ValueError if the segment is (or gets) closed.");

PyDoc_STRVAR(segment_wait_doc,
"wait($self, /, timeout=None)\n"
"--\n"
"\n"
"Wait until the generation passes seen (the generation this Segment last saw), set\n"
"seen to the new generation and return it.\n"
"\n"
"Returns at once if something was published since. Each publish() (in any process)\n"
"wakes every waiter; new - old tells how many frames were published meanwhile\n"
"(frames lost to a writer that died in them included).\n"
"Read the data in place afterwards (seg.array); read_frame() is the wait that also\n"
"copies a frame that is never torn.\n"
"\n"
"timeout   seconds to wait: None waits for ever, 0 only checks. The wait releases the\n"
"          GIL and comes back for signal handlers: Ctrl-C raises KeyboardInterrupt at\n"
"          once.\n"
"\n"
"Returns the new generation, an int. Raises TimeoutError when the timeout passes\n"
"with nothing new (seen is left as it was), BlockingIOError (EAGAIN) for timeout=0\n"
"and nothing new, shmap.Error with code EREMOVED if the segment is deleted or\n"
"replaced meanwhile (nobody will publish here again), ERAW for a raw mapping,\n"
"ValueError if the segment is (or gets) closed.");

PyDoc_STRVAR(segment_read_frame_doc,
"read_frame($self, /, timeout=None)\n"
"--\n"
"\n"
"Copy the next frame after seen, never torn, waiting for one as wait() does; return\n"
"a shmap.Frame (data, number, missed, torn).\n"
"\n"
"A frame is the whole array for a plain segment (the latest version), and for a\n"
"ring one entry of the first dimension: the oldest frame after seen that the ring\n"
"still holds. If a write touches the frame while it is copied, the copy is made\n"
"again; for that the writer must bracket its writes with write_begin() and\n"
"publish(). seen becomes the frame's number + 1.\n"
"\n"
"timeout   as for wait().\n"
"\n"
"Returns a Frame: data, a new numpy array (a copy: shape[1:] for a ring, shape\n"
"otherwise); number, the frame's number (generation - 1 when it was published);\n"
"missed, how many frames after seen the ring no longer held, or were lost to a\n"
"writer that died in them (skipped); torn, True only when, in a plain segment, the\n"
"writer died in the middle of a frame: the frame wanted as the writer left its slot\n"
"(a reader a frame behind gets the frame the writer overwrote, then the one it was\n"
"writing), and a shmap.OwnerDiedWarning is issued too. The next writer takes that\n"
"frame over and publishes it as a new frame, the torn one counting as lost, so the\n"
"reader then gets it whole. Raises as wait() does; a live writer in the middle of\n"
"the only frame there is is waited for too, and so is one that aborted it\n"
"(write_abort()) until it writes it again (write_state says who).");

PyDoc_STRVAR(segment_write_begin_doc,
"write_begin($self, /)\n"
"--\n"
"\n"
"Begin writing the next frame and return it, a writable numpy array over the\n"
"segment (no copy): the whole array for a plain segment, for a ring the entry\n"
"generation % N of the first dimension. Fill it, then call publish(), which ends the\n"
"write: readers in read_frame() then never see a torn frame.\n"
"\n"
"    frame = seg.write_begin()\n"
"    frame[:] = camera.read()\n"
"    seg.publish()\n"
"\n"
"One writer at a time: take the exclusive lock if several processes may write.\n"
"Returns a numpy.ndarray. Raises shmap.ReadOnlyError (a PermissionError, code\n"
"EREADONLY) on a read-only Segment, shmap.Error with code ERAW on a raw mapping, or\n"
"errno EALREADY if a write is already in progress in this process; ValueError if the\n"
"segment is closed. A writer that fails in the middle of a frame gives it up with\n"
"write_abort().");

PyDoc_STRVAR(segment_write_abort_doc,
"write_abort($self, /)\n"
"--\n"
"\n"
"Give up the frame this process began with write_begin(), without publishing it: for\n"
"a writer that fails in the middle of a frame.\n"
"\n"
"    frame = seg.write_begin()\n"
"    try:\n"
"        frame[:] = camera.read()\n"
"    except Exception:\n"
"        seg.write_abort()\n"
"        raise\n"
"    seg.publish()\n"
"\n"
"Nothing is undone and the generation does not change: the frame stays half-written,\n"
"and readers in read_frame() wait for it as for a frame being written (write_state\n"
"is ('aborted', pid)) until the next write_begin(), here or in another process,\n"
"takes the write over and publishes the frame, which they then get whole; should\n"
"this process die first, they get it with torn=True as of any writer that died in\n"
"the middle of a frame. Returns None. Raises shmap.Error (EINVAL)\n"
"when this process has no write in progress (none begun, or published or aborted\n"
"already), shmap.ReadOnlyError on a read-only Segment, shmap.Error (ERAW) on a raw\n"
"mapping, ValueError if the segment is closed.");

PyDoc_STRVAR(segment_close_doc,
"close($self, /)\n"
"--\n"
"\n"
"Drop this reference to the mapping. Arrays and buffers taken from this Segment keep\n"
"theirs and stay valid. If one still lives, the mapping is unmap-pending (IDL's\n"
"SHMUNMAP: opening the segment again in this process with the same access raises\n"
"shmap.Error with code EPENDING; see the module's Lifetimes) until every reference\n"
"to it is gone, other Segments' included; the memory goes with the last. If this\n"
"process created the segment (without keep) and this was the last reference, the\n"
"segment is destroyed. Closing a closed Segment does nothing. Locks\n"
"taken with lock() hold references of their own and stay held. A frame begun with\n"
"write_begin() and not published is given up (as write_abort()) when the last\n"
"reference to the mapping goes.\n"
"\n"
"Other Segments on the same mapping (an open() with the same access, a dup()) do not\n"
"count: a Segment closed with no array or buffer of its own left drops its reference\n"
"and leaves nothing pending, so an open() ... close() pair in a helper or another\n"
"thread, beside a Segment that lives on, never keeps later opens out.\n"
"Returns None. Raises OSError if destroying the segment fails (the Segment is closed\n"
"all the same).");

PyDoc_STRVAR(segment_unmap_doc,
"unmap($self, /)\n"
"--\n"
"\n"
"IDL's SHMUNMAP: drop this reference and, if arrays, buffers or other Segments still\n"
"hold the mapping, mark it unmap-pending: until the last of them goes, opening the\n"
"segment again in this process with the same access raises shmap.Error with code\n"
"EPENDING (an open with the other access makes a mapping of its own). close() does\n"
"so only while this Segment's own arrays or buffers live.\n"
"Returns None; raises as close() does.");

PyDoc_STRVAR(segment_set_destroy_doc,
"set_destroy($self, destroy, /)\n"
"--\n"
"\n"
"Set whether the segment is destroyed when this process's last reference goes (and\n"
"at exit). True makes this process responsible for removing it, even one it only\n"
"attached; False keeps one it created. The creator's choice is recorded in the\n"
"segment for shmap.gc(): one its creator destroys counts as transient (removed if the\n"
"creator is killed first), one it keeps as persistent unless created transient=True.\n"
"Raw mappings never destroy anything, and a file: segment is never removed by\n"
"closing: for one, this changes nothing. Returns None. Raises ValueError if the\n"
"segment is closed.");

PyDoc_STRVAR(segment_finish_create_doc,
"finish_create($self, /)\n"
"--\n"
"\n"
"Give a segment made with create(..., hidden=True) its name, once it is filled: a\n"
"POSIX or file segment is renamed into place atomically (never over another segment\n"
"unless created with replace=True), a System V one is marked complete; a memfd\n"
"segment has nothing to do. Returns None. Raises FileExistsError if the name was\n"
"taken meanwhile (the segment stays hidden, and goes when closed); shmap.Error\n"
"(code EINVAL) if the segment was not created hidden by this process or was finished\n"
"already; ValueError if the segment is closed.");

PyDoc_STRVAR(segment_array_protocol_doc,
"__array__($self, /, dtype=None, copy=None)\n"
"--\n"
"\n"
"The array numpy.asarray(seg) and numpy.array(seg) give: seg.array (no copy), cast\n"
"to dtype or copied when asked (copy=False, numpy's \"never copy\", with a dtype\n"
"that needs one raises ValueError). Raises ValueError if the segment is closed,\n"
"where numpy would otherwise make an object array holding the Segment.");

PyDoc_STRVAR(segment_dup_doc,
"dup($self, /)\n"
"--\n"
"\n"
"Return another Segment on the same mapping (the library's shmap_dup()): no new\n"
"mapping and no open by name, the same memory, type, shape, access and seen.\n"
"\n"
"The two close independently: closing one leaves the other open and the mapping\n"
"mapped, and the destroy policy applies when the last reference goes. Each holds\n"
"its own locks, as two processes would: the copy holds none (not even when this\n"
"Segment was opened with hold=True), and taking the exclusive lock through one\n"
"while the other holds a lock waits for it, so threads may each lock through a\n"
"Segment of their own. It works where opening by name again does not: for a memfd\n"
"segment, which has no name, and while the mapping is unmap-pending (after\n"
"close() of another Segment with its arrays still alive, or unmap()), where\n"
"shmap.open() raises shmap.Error with code EPENDING. copy.copy(seg) calls it.\n"
"\n"
"Raises ValueError if the segment is closed.");

PyDoc_STRVAR(segment_copy_doc,
"__copy__($self, /)\n"
"--\n"
"\n"
"copy.copy(seg): the same as dup(), another Segment on the same mapping.");

PyDoc_STRVAR(segment_fileno_doc,
"fileno($self, /)\n"
"--\n"
"\n"
"Return the file descriptor behind a memfd segment (create('memfd:', ...)) or one\n"
"opened with shmap.open_fd(), to give another process: by inheritance\n"
"(subprocess.Popen(..., pass_fds=[seg.fileno()]), os.fork()) or over a Unix socket\n"
"(socket.send_fds()); it attaches with shmap.open_fd(fd).\n"
"\n"
"The descriptor belongs to the mapping: do not close it, and take os.dup() of it to\n"
"keep it after this Segment is closed. (A Segment that open_fd() made while this\n"
"process already mapped the same file by name shares that mapping, which keeps no\n"
"descriptor: it keeps a duplicate of the descriptor it was given, closed when it is\n"
"closed, and its dup() another.) It is close-on-exec (pass_fds makes the\n"
"child's copy inheritable). os.fchmod() and os.fchown() on it change who may open\n"
"it through /proc.\n"
"\n"
"Returns an int. Raises io.UnsupportedOperation (an OSError and a ValueError, with\n"
".code ESTORE) for a POSIX, System V or file segment opened by name, which keep no\n"
"descriptor (they are shared by name); ValueError if the segment is closed.");

PyDoc_STRVAR(segment_enter_doc,
"__enter__($self, /)\n"
"--\n"
"\n"
"Return the segment itself.");

PyDoc_STRVAR(segment_exit_doc,
"__exit__($self, exc_type, exc_value, traceback, /)\n"
"--\n"
"\n"
"Close the segment (as close(), without marking it unmap-pending). Returns False:\n"
"exceptions propagate. Raises as close() does.");

PyDoc_STRVAR(segment_reduce_doc,
"__reduce__($self, /)\n"
"--\n"
"\n"
"Pickle as a reference by name: unpickling calls shmap.open(name, readonly). A memfd\n"
"segment has no name: pickling it raises TypeError; give another process its\n"
"descriptor (fileno()) and attach it there with shmap.open_fd(). copy.copy() does\n"
"not come here: it calls dup().");

/* ---------------------------------------------------------------------------------------- */

PyDoc_STRVAR(keywords_doc,
"The keywords of a segment, as a mutable mapping (registered as a\n"
"collections.abc.MutableMapping).\n"
"\n"
"kw[name], kw[name] = value, del kw[name], name in kw, len(kw), iteration (names in\n"
"the order they were first set), keys(), values(), items() (lists), get(), pop(),\n"
"popitem(), setdefault(), update(), clear(), and comparison with other mappings.\n"
"Values are int (64-bit), float, str (at most 71 bytes in UTF-8, so fewer characters\n"
"when some are not ASCII; no control characters) or bool; numpy scalars are\n"
"accepted. Floats are stored as given, inf and nan included (the library keeps\n"
"any double; FITS has no such values, and `shmap info --json` shows them as null).\n"
"Names are 1 to 23 letters, digits, '_' or '-', stored upper-case and compared\n"
"case-insensitively; a name no keyword can have is simply missing when read (KeyError,\n"
"not in). Setting a value keeps the keyword's comment; a (value, comment) pair sets\n"
"both, wherever a value is given (kw[name] = ('M31', 'target'), update(), setdefault(),\n"
"set()), as in create(keywords=...), with the same rules: the comment a str of at\n"
"most 39 bytes in UTF-8, no control characters ('' removes it). Reading gives the\n"
"value alone; comment() and comments() give the comments. Strings and comments are\n"
"read as UTF-8: bytes that are not (the library keeps those a C program stored,\n"
"Latin-1 say) read as U+FFFD, so writing such a value back changes its bytes.\n"
"\n"
"Every access reads or writes the segment itself, so other processes' changes are\n"
"seen at once. Writing needs a segment open read-write: on a read-only Segment every\n"
"method that may write (setting, del, pop(), popitem(), setdefault(), update(),\n"
"clear(), set()) raises shmap.ReadOnlyError (a PermissionError, code EREADONLY),\n"
"whatever the keywords hold.\n"
"Every method raises ValueError once the segment is closed, and shmap.Error (ERAW)\n"
"for a raw mapping; setting raises shmap.ArgumentError (a ValueError, code EKEYWORD,\n"
"with a message naming the keyword) for a bad name, too long a string or comment\n"
"(the message gives its length in bytes) or one with a control character (the\n"
"message says which, and where), TypeError for a value of another type,\n"
"OverflowError for an int beyond 64 bits, shmap.Error (EKEYFULL) when every slot is\n"
"taken. Any access raises shmap.Error with errno EBUSY when another process has\n"
"been in the middle of a keyword change for over a second (stopped, say, in a\n"
"debugger): a change never takes that long.");

PyDoc_STRVAR(keywords_set_doc,
"set($self, name, value, /, comment=None)\n"
"--\n"
"\n"
"Set a keyword with a comment (at most 39 bytes in UTF-8). comment=None keeps the\n"
"comment the keyword has, unless value is a (value, comment) pair; '' removes it.\n"
"Returns None; raises as setting kw[name] does (see shmap.Keywords),\n"
"shmap.ArgumentError for too long a comment, TypeError for a pair and comment= both.");

PyDoc_STRVAR(keywords_comment_doc,
"comment($self, name, /)\n"
"--\n"
"\n"
"Return the comment of a keyword ('' if it has none). Raises KeyError if there is no\n"
"such keyword.");

PyDoc_STRVAR(keywords_comments_doc,
"comments($self, /)\n"
"--\n"
"\n"
"Return a dict name -> comment of the keywords that have a comment.");

PyDoc_STRVAR(keywords_keys_doc,
"keys($self, /)\n"
"--\n"
"\n"
"Return a list of the keyword names, in the order they were first set.");

PyDoc_STRVAR(keywords_values_doc,
"values($self, /)\n"
"--\n"
"\n"
"Return a list of the keyword values, in the order they were first set.");

PyDoc_STRVAR(keywords_items_doc,
"items($self, /)\n"
"--\n"
"\n"
"Return a list of (name, value) pairs, in the order they were first set.");

PyDoc_STRVAR(keywords_get_doc,
"get($self, name, default=None, /)\n"
"--\n"
"\n"
"Return the value of a keyword, or default if there is none.");

PyDoc_STRVAR(keywords_pop_doc,
"pop($self, name, default=<unrepresentable>, /)\n"
"--\n"
"\n"
"Remove a keyword and return its value; return default (or raise KeyError) if there\n"
"is none. Raises shmap.ReadOnlyError on a read-only Segment, with a default too.");

PyDoc_STRVAR(keywords_popitem_doc,
"popitem($self, /)\n"
"--\n"
"\n"
"Remove the last keyword in iteration order (the one first set most recently, as\n"
"dict.popitem() takes the last inserted) and return its (name, value) pair. Raises\n"
"KeyError when there is none, shmap.ReadOnlyError (EREADONLY) on a read-only\n"
"Segment.");

PyDoc_STRVAR(keywords_setdefault_doc,
"setdefault($self, name, default=None, /)\n"
"--\n"
"\n"
"Return the value of a keyword, setting it to default first if there is none (which\n"
"raises as setting kw[name] does: TypeError for None, the default); a default that\n"
"is a (value, comment) pair sets both, and its value is returned. Raises\n"
"shmap.ReadOnlyError on a read-only Segment, even for a keyword that is there.");

PyDoc_STRVAR(keywords_update_doc,
"update($self, other=(), /, **kwargs)\n"
"--\n"
"\n"
"Set keywords from a mapping or an iterable of (name, value) pairs, then from\n"
"kwargs; a value may be a (value, comment) pair, and a plain value keeps the\n"
"keyword's comment. All or none, in one change: every value is converted and\n"
"the free slots counted first, and other processes see the keywords change\n"
"together. Returns None; raises as setting kw[name] does (EKEYFULL naming the\n"
"new keywords that do not fit), setting none, and shmap.ReadOnlyError on a\n"
"read-only Segment, even with nothing to set.");

PyDoc_STRVAR(keywords_clear_doc,
"clear($self, /)\n"
"--\n"
"\n"
"Delete every keyword, in one change. Returns None; raises shmap.ReadOnlyError\n"
"(EREADONLY) on a read-only Segment, even one with no keywords.");

PyDoc_STRVAR(lock_doc,
"A held shared or exclusive lock of a segment, made by Segment.lock() (not\n"
"directly).\n"
"\n"
"The lock is held from the lock() call until release(), the end of a with block,\n"
"or the Lock's garbage collection. It has its own reference to the mapping, so it\n"
"stays valid after the Segment is closed. Any thread may release it; while it is\n"
"held, the thread that took it cannot lock its Segment again (see Segment.lock()).\n"
"In a child made by fork() the lock is the parent's: there, held is False, the repr\n"
"says \"not held (the parent's)\" and release() only drops the child's reference.");

PyDoc_STRVAR(lock_release_doc,
"release($self, /, *, writer_died=None)\n"
"--\n"
"\n"
"Release the lock (waking waiters) and drop the Lock's reference to the mapping.\n"
"Releasing a released Lock does nothing. Returns None. Raises shmap.ArgumentError\n"
"(EINVAL) if the exclusive lock was taken from this process meanwhile (it was judged\n"
"dead); the reference is dropped all the same.\n"
"\n"
"writer_died=PID releases an exclusive lock as if process PID had died holding it:\n"
"for a holder that let another process write under its lock and saw it killed before\n"
"it finished. The next process to take the exclusive lock is told (OwnerDiedWarning in\n"
"Python, SHMAP_EOWNERDEAD in C, a warning line from the shmap command) naming PID.\n"
"\n"
"    with seg.lock(exclusive=True) as lk:\n"
"        p = subprocess.Popen(['./writer'])\n"
"        if p.wait() < 0:              # ended by a signal\n"
"            lk.release(writer_died=p.pid)\n"
"\n"
"ValueError if the lock is shared, released already or the parent process's, or PID\n"
"is not positive; TypeError if PID is not an int. Nothing is released then.");

PyDoc_STRVAR(lock_enter_doc,
"__enter__($self, /)\n"
"--\n"
"\n"
"Return the Lock itself (the lock was taken by Segment.lock()). Raises ValueError if\n"
"it was released.");

PyDoc_STRVAR(lock_exit_doc,
"__exit__($self, exc_type, exc_value, traceback, /)\n"
"--\n"
"\n"
"Release the lock. Returns False: exceptions propagate. Raises as release() does.");

PyDoc_STRVAR(lock_held_doc,
"True while this process holds the lock through this Lock.");
PyDoc_STRVAR(lock_exclusive_doc, "True for the exclusive lock, False for a shared one.");
PyDoc_STRVAR(lock_owner_died_doc,
"The pid of the writer that died holding the exclusive lock before this Lock took it\n"
"(the data may be half-written: repair it before releasing), -1 if its pid is not\n"
"known; None when the previous holder let go normally.");
PyDoc_STRVAR(lock_name_doc, "The name of the segment.");

PyDoc_STRVAR(frame_doc,
"A frame copied by Segment.read_frame(): a tuple (data, number, missed, torn) with\n"
"named fields, as os.stat_result is (a struct sequence: no _fields or _asdict() of\n"
"collections.namedtuple).");
PyDoc_STRVAR(frame_data_doc,
"The frame, a new numpy array (a copy that is never torn, unless torn is True).");
PyDoc_STRVAR(frame_number_doc,
"The frame's number, counting from 0: the generation it was published as, less one.");
PyDoc_STRVAR(frame_missed_doc,
"Frames after the Segment's seen that the ring no longer held, or that were lost to a\n"
"writer that died in them (a plain segment's): skipped, never read.");
PyDoc_STRVAR(frame_torn_doc,
"True when the writer died while writing the only frame there is (a plain segment):\n"
"the copy may then be torn.");

PyDoc_STRVAR(gc_event_doc,
"One action of shmap.gc(): a tuple (action, name, pid, slots, size, dry_run, status,\n"
"message) with named fields, as os.stat_result is (a struct sequence: no _fields or\n"
"_asdict() of collections.namedtuple). With dry_run, what would be done.");
PyDoc_STRVAR(gc_event_action_doc,
"What was done, as `shmap gc` says it: 'removed_transient' (a transient segment whose\n"
"creator is dead and that nobody uses), 'kept_transient' (one kept because processes\n"
"this user cannot inspect may map it, or because this user may not remove it: message\n"
"says which and what to do), 'cleared_slots' (dead processes' attach slots in a\n"
"segment), 'removed_leftover' (a hidden '.shmap-tmp-PID-N-NAME' object of a creation\n"
"whose process died), 'removed_unfinished' (a System V segment whose creator died\n"
"creating it), 'kept_leftover' and 'kept_unfinished' (those two, kept because this\n"
"user may not remove them), or 'kept_unattached' (a System V segment larger than this\n"
"process's address-space limit, ulimit -v, which it cannot attach to look at).");
PyDoc_STRVAR(gc_event_name_doc,
"The segment ('frames', 'sysv://0x00005eed') or hidden object\n"
"('.shmap-tmp-PID-N-frames').");
PyDoc_STRVAR(gc_event_pid_doc,
"The dead creator's pid, an int; None for 'cleared_slots'.");
PyDoc_STRVAR(gc_event_slots_doc,
"Attach slots of dead processes cleared (for 'cleared_slots'; for a removed transient\n"
"segment, those it had), an int.");
PyDoc_STRVAR(gc_event_size_doc, "Size of the object in bytes, an int.");
PyDoc_STRVAR(gc_event_dry_run_doc,
"True when nothing was changed: gc(dry_run=True) reports what it would do.");
PyDoc_STRVAR(gc_event_status_doc,
"0 when the action was done (or, in a dry run, would be). For a kept object (a kept_*\n"
"action, its message 'NAME: kept: ...'), which is not a failure: -errno.EBUSY (processes\n"
"this user cannot inspect may map it), or -errno.EPERM or -errno.EACCES (this user may\n"
"not remove it). Otherwise a negative value is the library's code of a failure, the\n"
"action not done.");
PyDoc_STRVAR(gc_event_message_doc,
"The library's message for a failed or kept action, naming the object ('frames: kept:\n"
"pid 12 (uid 1000) may map it ...', 'frames: kept: it belongs to uid 1000, ...'); None\n"
"when status is 0.");

PyDoc_STRVAR(perm_tuple_doc,
"The mode and owner of an object, from shmap.perm(): a tuple (mode, uid, gid) with\n"
"named fields, as os.stat_result is (a struct sequence: no _fields or _asdict() of\n"
"collections.namedtuple).");
PyDoc_STRVAR(perm_mode_doc,
"The permission bits, an int (0o640): what chmod() sets and info()'s mode spells.");
PyDoc_STRVAR(perm_uid_doc, "The owner's user id, an int.");
PyDoc_STRVAR(perm_gid_doc, "The group id, an int.");

PyDoc_STRVAR(owner_died_warning_doc,
"Issued (warnings.warn) when a lock or a frame is obtained from a writer that died\n"
"while holding the exclusive lock or writing the frame: the data may be\n"
"inconsistent. The call still succeeds; see Lock.owner_died and Frame.torn. Made\n"
"an error (python -W error), the call raises it and takes nothing: the lock or\n"
"hold is let go still marked, so the next writer is told of the same death, and\n"
"read_frame() leaves seen as it was. A RuntimeWarning.");

PyDoc_STRVAR(mapref_doc,
"A reference to a mapping, held by the arrays of a segment (their .base) to keep\n"
"the memory mapped. Not for direct use.");

PyDoc_STRVAR(error_doc,
"A libshmap failure. Attributes: code (the library's negative return code), errname\n"
"('SHMAP_EFORMAT', 'ENOSPC', ...), errno (the positive errno for system failures,\n"
"else the code). The message is the library's detail.");

PyDoc_STRVAR(out_of_memory_error_doc,
"The system has not the memory a call asked for (the library's ENOMEM): a System V\n"
"segment larger than memory and swap allow, a mapping the kernel refuses\n"
"(vm.max_map_count), the library's own allocations. Both a shmap.Error (an OSError:\n"
"errno 12, code, errname and the library's message, such as 'sysv://0x5eed: not\n"
"enough memory for 400000009216 bytes') and a MemoryError, so either except clause\n"
"catches it. A full /dev/shm is ENOSPC instead (shmap.Error, not a MemoryError).");

PyDoc_STRVAR(read_only_error_doc,
"This Segment may not write the segment (the library's EREADONLY): both a\n"
"shmap.Error (code and errno EREADONLY, errname 'SHMAP_EREADONLY', the library's\n"
"message) and a PermissionError. Two cases share the code:\n"
"\n"
"- a write through a Segment opened read-only: publish(), write_begin(), setting or\n"
"  deleting keywords. The message ends '(this Segment was opened read-only: open the\n"
"  segment with readonly=False to write it)'.\n"
"- a lock (lock(), open(..., hold=True)) through a read-only Segment whose user may\n"
"  not write the segment: the lock table lives in the segment, so taking a lock is a\n"
"  write. ('opened read-only, and this user may not write the segment's lock\n"
"  table'). Such a reader can still read, and wait() for updates.\n"
"\n"
"Why one class, and why PermissionError: in both cases the answer is 'you may not\n"
"write this', which Python spells PermissionError, and code that handles one case\n"
"by catching PermissionError handles the other; the message says which case it is.\n"
"A read-only Segment of a segment this user may write still locks (the header page\n"
"is mapped read-write for it), so it meets the first case only, with the message\n"
"saying how to write. Failing to open a segment at all for lack of permission is a\n"
"plain PermissionError (EACCES).");

PyDoc_STRVAR(dtype_error_doc,
"An element type that shmap cannot store or does not know (also a TypeError): code\n"
"and errno EDTYPE, or EBYTEORDER for a type of the other byte order, whether the\n"
"library refused a type name or the binding a numpy dtype.");

PyDoc_STRVAR(argument_error_doc,
"A bad name, shape, size, keyword or argument refused by the library (also a\n"
"ValueError).");

#endif /* SHMAP_DOC_H */
