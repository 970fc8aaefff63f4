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
"Names: 'frames', '/frames', 'shm://frames' and 'shmem://frames' all name the POSIX\n"
"shared-memory object /frames.\n"
"\n"
"Lifetimes. A Segment is one reference to a mapping of this process. Every array taken\n"
"from Segment.array, and every buffer exported (numpy.asarray(seg), memoryview(seg)),\n"
"holds a reference of its own: closing the Segment while arrays exist is safe, the\n"
"arrays stay readable, and the memory is unmapped when the last of them goes. Until\n"
"then the mapping is unmap-pending (IDL's SHMUNMAP): opening the segment again in\n"
"this process raises shmap.Error with code EPENDING.\n"
"\n"
"Destroy policy (IDL's): a segment this process created is destroyed (its name\n"
"removed) when this process's last reference to it goes, and at interpreter exit,\n"
"unless it was created with keep=True or set_destroy(False) was called. A segment\n"
"this process only attached is never removed by it: attaching never unlinks, unlike\n"
"multiprocessing.shared_memory's resource tracker. A process that ends abruptly\n"
"(os._exit, a signal) leaves its segments where they are; create them transient=True\n"
"so that `shmap gc` may collect them.\n"
"\n"
"Errors. Failures of the library raise\n"
"  FileNotFoundError  no such segment (ENOENT)\n"
"  FileExistsError    the name exists (EEXIST)\n"
"  PermissionError    EACCES, EPERM\n"
"  TimeoutError       ETIMEDOUT\n"
"  shmap.DtypeError   an invalid or unsupported element type (also a TypeError)\n"
"  shmap.ArgumentError  a bad name, shape, size, keyword or argument (also a\n"
"                     ValueError)\n"
"  shmap.Error        anything else: not a shmap segment, corrupt header, wrong byte\n"
"                     order, unmap pending, read-only, keyword area full, ENOSPC...\n"
"shmap.Error is a subclass of OSError. Every exception raised for a library failure\n"
"carries .code (the library's negative return code, equal to one of the module's E*\n"
"constants or to -errno), .errname ('ENOENT', 'SHMAP_EPENDING') and .errno (the\n"
"positive errno for system failures, else .code); its message is the library's\n"
"detail naming the segment, size or field at fault. Wrong Python types raise\n"
"TypeError, and out-of-range Python values ValueError, as usual.\n"
"\n"
"Threads. The GIL is released while the library creates, opens, closes, lists or\n"
"deletes segments. A Segment may be shared between threads.");

PyDoc_STRVAR(create_doc,
"create($module, /, name, shape, dtype, *, mode=0o600, keep=False, transient=False,\n"
"       replace=False, exist_ok=False, prefault=False, keywords=None,\n"
"       keyword_capacity=0)\n"
"--\n"
"\n"
"Create a segment holding a zero-filled array and open it read-write.\n"
"\n"
"The segment appears under its name only when complete: its memory is reserved first,\n"
"so a full /dev/shm raises an OSError (ENOSPC) here rather than a crash at the first\n"
"write.\n"
"\n"
"name      the segment name ('frames', '/frames', 'shm://frames').\n"
"shape     an int or a sequence of 1 to 8 ints, each >= 1, in C order (last index\n"
"          fastest, as numpy).\n"
"dtype     the element type: a numpy dtype or type (np.float32, np.dtype('<f4'),\n"
"          complex), a numpy string ('f4', '<f8', 'float32', 'c8', '?'), a shmap\n"
"          name ('u8' ... 'i64', 'f16', 'f32', 'f64', 'c64', 'c128', 'bool'), or an\n"
"          IDL name ('byte', 'int', 'uint', 'long', 'ulong', 'long64', 'ulong64',\n"
"          'float', 'double', 'complex', 'dcomplex'). In strings, shmap's and IDL's\n"
"          meanings win over numpy's: 'int' is int16, 'long' int32, 'float' float32,\n"
"          'f16' float16, and 'i8' and 'u8' are 8-bit (write np.int64, 'int64' or\n"
"          '<i8' for numpy's 64-bit meaning). A structured numpy dtype\n"
"          (np.dtype([('x', 'f4'), ('flag', 'u1')])) makes a record segment; it\n"
"          must be packed (no padding, no align=True), its fields of the types\n"
"          above or 1-d subarrays of them; the CLI's 'record:x:f4,flag:u1' is\n"
"          accepted as well.\n"
"mode      permission bits, less the umask (default 0o600).\n"
"keep      keep the segment when this process's last reference goes (default: a\n"
"          segment you create is destroyed then, as in IDL).\n"
"transient record it as transient: `shmap gc` may remove it once its creator and\n"
"          users are gone.\n"
"replace   replace an existing segment of that name, atomically.\n"
"exist_ok  if the name exists with this type and shape, open it read-write instead\n"
"          (raise shmap.Error with code EMISMATCH if the type or shape differ).\n"
"prefault  fault every page in now (MAP_POPULATE).\n"
"keywords  a mapping of keywords to set: {'EXPTIME': 1.5, 'OBJECT': ('M31',\n"
"          'target name')}; a (value, comment) pair sets a comment.\n"
"keyword_capacity\n"
"          keyword slots (0 for the library's default, 32).\n"
"\n"
"Returns a read-write Segment. Raises FileExistsError if the name exists (without\n"
"replace or exist_ok), shmap.DtypeError, shmap.ArgumentError, or OSError.");

PyDoc_STRVAR(open_doc,
"open($module, /, name, readonly=True)\n"
"--\n"
"\n"
"Attach an existing segment by name.\n"
"\n"
"Everything in the segment is checked before use (magic, version, byte order,\n"
"checksum, type, dimensions and offsets against the size the kernel reports); a\n"
"segment that fails raises shmap.Error. A read-only open maps the memory read-only\n"
"and its arrays refuse writes. If this process already maps the segment with the\n"
"same access, the new Segment is another reference to that mapping.\n"
"\n"
"Opening never removes or changes anything.\n"
"\n"
"Raises FileNotFoundError, PermissionError, shmap.ArgumentError (a bad name), or\n"
"shmap.Error (not a shmap segment, corrupt, incomplete, unmap pending: see .code).");

PyDoc_STRVAR(delete_doc,
"delete($module, /, name)\n"
"--\n"
"\n"
"Remove a segment's name.\n"
"\n"
"Processes that map it, this one included, keep their memory until they unmap; the\n"
"memory is freed after the last one. Raises FileNotFoundError if there is no such\n"
"segment, PermissionError if it may not be removed.");

PyDoc_STRVAR(list_doc,
"list($module, /, all=False)\n"
"--\n"
"\n"
"List the segments on the system, sorted by name.\n"
"\n"
"Returns a list of dicts with the same fields, values and types as\n"
"`shmap ls --json` (see info()). With all=True, shared-memory objects that are not\n"
"shmap segments are listed too, as dicts with name, shmap=False, store, os_handle,\n"
"size, mode, uid, gid, owner, group, error and error_code. Segments whose keywords\n"
"cannot be read now have keywords=None.");

PyDoc_STRVAR(info_doc,
"info($module, /, name)\n"
"--\n"
"\n"
"Describe a segment by name, without keeping it mapped.\n"
"\n"
"Returns a dict with the fields of `shmap info NAME --json`, in the same order and\n"
"with the same types: name, shmap (True), store, os_handle, size (of the object),\n"
"mode ('0600'), uid, gid, owner, group (names or None), version, dtype (shmap's\n"
"name: 'f32', 'record'), numpy ('<f4', or None for records), record_fields (the field\n"
"list, or None), elsize, ndim, shape (a list), nelem, bytes, data_offset,\n"
"creator_pid, creator_uid, attached (a list; empty until attach tracking exists),\n"
"generation, created (ISO 8601 UTC with milliseconds), created_ns, transient, flags,\n"
"keyword_capacity, keywords (name -> value, in the order set) and keyword_comments\n"
"(name -> comment, for those that have one). Keyword floats that are nan or\n"
"infinite stay floats here (the JSON prints null).");

PyDoc_STRVAR(unique_name_doc,
"unique_name($module, /, prefix=None)\n"
"--\n"
"\n"
"Return a fresh name that no segment has now (IDL's GET_NAME), such as\n"
"'shmap-4f2a9c1e-1', starting with prefix (default 'shmap'). Another process may\n"
"still take it before you do: create() is exclusive, so that is an error, never a\n"
"silent overwrite.");

PyDoc_STRVAR(mappings_doc,
"mappings($module, /)\n"
"--\n"
"\n"
"List this process's mappings (IDL's HELP, /SHARED_MEMORY).\n"
"\n"
"Returns a list of dicts: name, store, os_handle, dtype, numpy, record_fields, shape\n"
"(a list), bytes, offset (of the data in the mapping), refs (references open: Segments,\n"
"arrays and buffers), pending (unmap-pending), writable, destroy (the segment is\n"
"removed when the last reference goes).");

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

/* ---------------------------------------------------------------------------------------- */

PyDoc_STRVAR(segment_doc,
"An open shmap segment: one reference to a mapping of a named array.\n"
"\n"
"Made by shmap.create() and shmap.open(), not directly. The data is seg.array, a\n"
"numpy.ndarray over the shared memory (zero copy); the Segment also exports it\n"
"through the buffer protocol (numpy.asarray(seg), memoryview(seg)).\n"
"\n"
"A Segment is a context manager that closes on exit, and pickles as a reference by\n"
"name: unpickling reopens the segment with the same access (for multiprocessing).");

PyDoc_STRVAR(segment_array_doc,
"The data, as a numpy.ndarray over the shared memory (zero copy, C order).\n"
"\n"
"Writable only when the segment is open read-write. Each access returns a new ndarray\n"
"over the same memory; each holds its own reference to the mapping, so it stays valid\n"
"after close() and the memory is unmapped when the last array goes.");

PyDoc_STRVAR(segment_name_doc, "The canonical name of the segment ('frames').");
PyDoc_STRVAR(segment_dtype_doc,
"The element type as a numpy dtype (structured for record segments).");
PyDoc_STRVAR(segment_shape_doc, "The shape, a tuple of ints, C order.");
PyDoc_STRVAR(segment_ndim_doc, "The number of dimensions (1 to 8).");
PyDoc_STRVAR(segment_nbytes_doc, "Bytes of data: the product of the shape times the element size.");
PyDoc_STRVAR(segment_store_doc, "The backing store: 'posix' (later 'sysv', 'file', 'memfd').");
PyDoc_STRVAR(segment_os_handle_doc,
"The OS handle behind the segment (IDL's GET_OS_HANDLE): the POSIX name ('/frames').");
PyDoc_STRVAR(segment_generation_doc,
"The generation counter: how many times the data was published (read live).");
PyDoc_STRVAR(segment_readonly_doc, "True if the segment is open read-only.");
PyDoc_STRVAR(segment_closed_doc, "True once close() or unmap() was called.");
PyDoc_STRVAR(segment_info_doc,
"A dict describing the segment, with the fields of shmap.info() (read now).");
PyDoc_STRVAR(segment_keywords_doc,
"The segment's keywords, as a mutable mapping (shmap.Keywords).\n"
"\n"
"    seg.keywords['EXPTIME'] = 1.5\n"
"    seg.keywords.set('OBJECT', 'M31', comment='target')\n"
"\n"
"Values are int, float, str or bool; names are stored upper-case and compared\n"
"case-insensitively.");

PyDoc_STRVAR(segment_publish_doc,
"publish($self, /)\n"
"--\n"
"\n"
"Mark a new version of the data: bump the generation counter and wake processes\n"
"waiting for it. Raises shmap.Error (EREADONLY) on a read-only segment.");

PyDoc_STRVAR(segment_close_doc,
"close($self, /)\n"
"--\n"
"\n"
"Drop this reference to the mapping (IDL's SHMUNMAP). Arrays and buffers taken from\n"
"the segment keep theirs: they stay valid, the mapping is unmap-pending (opening the\n"
"segment again in this process raises shmap.Error with code EPENDING) and the memory\n"
"goes when the last of them goes. If this process created the segment (without keep)\n"
"and this was the last reference, the segment is destroyed. Closing a closed Segment\n"
"does nothing.");

PyDoc_STRVAR(segment_unmap_doc,
"unmap($self, /)\n"
"--\n"
"\n"
"The same as close(), under IDL's name: drop this reference and, if arrays or other\n"
"Segments still hold the mapping, mark it unmap-pending: until the last of them goes,\n"
"opening the segment again in this process raises shmap.Error with code EPENDING.");

PyDoc_STRVAR(segment_set_destroy_doc,
"set_destroy($self, destroy, /)\n"
"--\n"
"\n"
"Set whether the segment is destroyed when this process's last reference goes (and\n"
"at exit). True makes this process responsible for removing it, even one it only\n"
"attached; False keeps one it created.");

PyDoc_STRVAR(segment_enter_doc,
"__enter__($self, /)\n"
"--\n"
"\n"
"Return the segment itself.");

PyDoc_STRVAR(segment_exit_doc,
"__exit__($self, exc_type, exc_value, traceback, /)\n"
"--\n"
"\n"
"Close the segment.");

PyDoc_STRVAR(segment_reduce_doc,
"__reduce__($self, /)\n"
"--\n"
"\n"
"Pickle as a reference by name: unpickling calls shmap.open(name, readonly).");

/* ---------------------------------------------------------------------------------------- */

PyDoc_STRVAR(keywords_doc,
"The keywords of a segment, as a mutable mapping (registered as a\n"
"collections.abc.MutableMapping).\n"
"\n"
"kw[name], kw[name] = value, del kw[name], name in kw, len(kw), iteration (names in\n"
"the order they were first set), keys(), values(), items(), get(), pop(),\n"
"setdefault(), update(), clear(), and comparison with other mappings. Values are\n"
"int (64-bit), float, str (at most 71 characters) or bool; numpy scalars are\n"
"accepted. Names are 1 to 23 letters, digits, '_' or '-', stored upper-case and\n"
"compared case-insensitively. Setting a value keeps the keyword's comment; set()\n"
"and comment() reach comments.\n"
"\n"
"Every access reads or writes the segment itself, so other processes' changes are\n"
"seen at once. Writing needs a segment open read-write (else shmap.Error, EREADONLY).");

PyDoc_STRVAR(keywords_set_doc,
"set($self, name, value, /, comment=None)\n"
"--\n"
"\n"
"Set a keyword with a comment (at most 39 characters). comment=None keeps the\n"
"comment the keyword has; '' removes it.");

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
"is none.");

PyDoc_STRVAR(keywords_setdefault_doc,
"setdefault($self, name, default, /)\n"
"--\n"
"\n"
"Return the value of a keyword, setting it to default first if there is none.");

PyDoc_STRVAR(keywords_update_doc,
"update($self, other=(), /, **kwargs)\n"
"--\n"
"\n"
"Set keywords from a mapping or an iterable of (name, value) pairs, then from\n"
"kwargs.");

PyDoc_STRVAR(keywords_clear_doc,
"clear($self, /)\n"
"--\n"
"\n"
"Delete every keyword.");

PyDoc_STRVAR(mapref_doc,
"A reference to a mapping, held by the arrays of a segment (their .base) to keep\n"
"the memory mapped. Not for direct use.");

PyDoc_STRVAR(error_doc,
"A libshmap failure. Attributes: code (the library's negative return code), errname\n"
"('SHMAP_EFORMAT', 'ENOSPC', ...), errno (the positive errno for system failures,\n"
"else the code). The message is the library's detail.");

PyDoc_STRVAR(dtype_error_doc,
"An element type that shmap cannot store or does not know (also a TypeError).");

PyDoc_STRVAR(argument_error_doc,
"A bad name, shape, size, keyword or argument refused by the library (also a\n"
"ValueError).");

#endif /* SHMAP_DOC_H */
