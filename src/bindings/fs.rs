//! luv's `uv.fs_*` functions: with a callback (or a coroutine) they run on the thread
//! pool, without one they run at once on the loop thread (req.rs says how).
//!
//! Each call is parsed on the loop thread into an [`Op`] (owned, `Send`), which
//! [`Op::run`] carries out with the C library wherever it runs, giving an [`Out`];
//! [`out_values`] makes Lua values of that on the loop thread. So every function has
//! one implementation, whichever form it is called in.
//!
//! Failures are luv's: `ENOENT: no such file or directory: /x`.

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;

use mlua::{IntoLuaMulti, Lua, MultiValue, Result, Table, UserData, UserDataMethods, Value};

use super::req::{self, Outcome};
use crate::event_loop::errors::Failure;
use crate::event_loop::SharedState;

/// One fs request, with its arguments.
enum Op {
    Close(i32),
    Open(CString, i32, u32),
    Read(i32, usize, i64),
    Write(i32, Vec<u8>, i64),
    Unlink(CString),
    Mkdir(CString, u32),
    Mkdtemp(CString),
    Mkstemp(CString),
    Rmdir(CString),
    Scandir(CString),
    Stat(CString),
    Fstat(i32),
    Lstat(CString),
    Rename(CString, CString),
    Fsync(i32),
    Fdatasync(i32),
    Ftruncate(i32, i64),
    Sendfile(i32, i32, i64, usize),
    Access(CString, i32),
    Chmod(CString, u32),
    Fchmod(i32, u32),
    Utime(CString, f64, f64, bool),
    Futime(i32, f64, f64),
    Link(CString, CString),
    Symlink(CString, CString),
    Readlink(CString),
    Realpath(CString),
    Chown(CString, u32, u32, bool),
    Fchown(i32, u32, u32),
    Copyfile(CString, CString, i32),
    Statfs(CString),
}

/// What a request gave.
enum Out {
    Done,
    Int(i64),
    Bytes(Vec<u8>),
    FdPath(i32, Vec<u8>),
    Stat(Box<libc::stat>),
    Access(bool),
    Entries(Vec<(Vec<u8>, &'static str)>),
    Statfs(Box<libc::statfs>),
}

type OpResult = std::result::Result<Out, Failure>;

fn os_err() -> io::Error {
    io::Error::last_os_error()
}

/// `rc` as a result: -1 is the C library's failure.
fn check(rc: i64) -> io::Result<i64> {
    if rc < 0 {
        Err(os_err())
    } else {
        Ok(rc)
    }
}

fn lossy(p: &CStr) -> String {
    p.to_string_lossy().into_owned()
}

/// luv's failure: the path (or paths) the call was about follow the message.
fn failure(e: io::Error, paths: &[&CStr]) -> Failure {
    let mut f = Failure::from_io(&e);
    for p in paths {
        f.message.push_str(": ");
        f.message.push_str(&lossy(p));
    }
    f
}

fn dirent_type(t: u8) -> &'static str {
    match t {
        libc::DT_REG => "file",
        libc::DT_DIR => "directory",
        libc::DT_LNK => "link",
        libc::DT_FIFO => "fifo",
        libc::DT_SOCK => "socket",
        libc::DT_CHR => "char",
        libc::DT_BLK => "block",
        _ => "unknown",
    }
}

fn mode_type(mode: u32) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFREG => "file",
        libc::S_IFDIR => "directory",
        libc::S_IFLNK => "link",
        libc::S_IFIFO => "fifo",
        libc::S_IFSOCK => "socket",
        libc::S_IFCHR => "char",
        libc::S_IFBLK => "block",
        _ => "unknown",
    }
}

fn timespec(secs: f64) -> libc::timespec {
    libc::timespec {
        tv_sec: secs.floor() as libc::time_t,
        tv_nsec: ((secs - secs.floor()) * 1e9) as libc::c_long,
    }
}

impl Op {
    /// Carries out the request (on a pool thread, or the loop's).
    fn run(self) -> OpResult {
        // SAFETY (every libc call below): the paths are NUL-terminated CStrings and
        // the buffers are ours, passed with their lengths.
        unsafe {
            match self {
                Op::Close(fd) => check(libc::close(fd) as i64)
                    .map(|_| Out::Done)
                    .map_err(|e| failure(e, &[])),
                Op::Open(p, flags, mode) => {
                    check(libc::open(p.as_ptr(), flags | libc::O_CLOEXEC, mode) as i64)
                        .map(Out::Int)
                        .map_err(|e| failure(e, &[&p]))
                }
                Op::Read(fd, size, offset) => {
                    let mut buf = vec![0u8; size];
                    let n = if offset >= 0 {
                        libc::pread(fd, buf.as_mut_ptr().cast(), size, offset)
                    } else {
                        libc::read(fd, buf.as_mut_ptr().cast(), size)
                    };
                    check(n as i64)
                        .map(|n| {
                            buf.truncate(n as usize);
                            Out::Bytes(buf)
                        })
                        .map_err(|e| failure(e, &[]))
                }
                Op::Write(fd, data, offset) => {
                    let n = if offset >= 0 {
                        libc::pwrite(fd, data.as_ptr().cast(), data.len(), offset)
                    } else {
                        libc::write(fd, data.as_ptr().cast(), data.len())
                    };
                    check(n as i64).map(Out::Int).map_err(|e| failure(e, &[]))
                }
                Op::Unlink(p) => done(libc::unlink(p.as_ptr()), &[&p]),
                Op::Mkdir(p, mode) => done(libc::mkdir(p.as_ptr(), mode), &[&p]),
                Op::Mkdtemp(p) => {
                    let mut t = p.into_bytes_with_nul();
                    if libc::mkdtemp(t.as_mut_ptr().cast()).is_null() {
                        let e = os_err();
                        return Err(failure(
                            e,
                            &[CStr::from_bytes_with_nul(&t).unwrap_or_default()],
                        ));
                    }
                    t.pop();
                    Ok(Out::Bytes(t))
                }
                Op::Mkstemp(p) => {
                    let mut t = p.into_bytes_with_nul();
                    let fd = libc::mkostemp(t.as_mut_ptr().cast(), libc::O_CLOEXEC);
                    if fd < 0 {
                        let e = os_err();
                        return Err(failure(
                            e,
                            &[CStr::from_bytes_with_nul(&t).unwrap_or_default()],
                        ));
                    }
                    t.pop();
                    Ok(Out::FdPath(fd, t))
                }
                Op::Rmdir(p) => done(libc::rmdir(p.as_ptr()), &[&p]),
                Op::Scandir(p) => match std::fs::read_dir(OsStr::from_bytes(p.as_bytes())) {
                    Ok(dir) => {
                        let mut entries = Vec::new();
                        for e in dir {
                            let e = e.map_err(|e| failure(e, &[&p]))?;
                            let kind = match e.file_type() {
                                Ok(t) if t.is_file() => "file",
                                Ok(t) if t.is_dir() => "directory",
                                Ok(t) if t.is_symlink() => "link",
                                Ok(t) => {
                                    use std::os::unix::fs::FileTypeExt;
                                    if t.is_fifo() {
                                        "fifo"
                                    } else if t.is_socket() {
                                        "socket"
                                    } else if t.is_char_device() {
                                        "char"
                                    } else if t.is_block_device() {
                                        "block"
                                    } else {
                                        "unknown"
                                    }
                                }
                                Err(_) => dirent_type(libc::DT_UNKNOWN),
                            };
                            entries.push((e.file_name().as_bytes().to_vec(), kind));
                        }
                        entries.sort();
                        Ok(Out::Entries(entries))
                    }
                    Err(e) => Err(failure(e, &[&p])),
                },
                Op::Stat(p) => {
                    let mut st: libc::stat = std::mem::zeroed();
                    check(libc::stat(p.as_ptr(), &mut st) as i64)
                        .map(|_| Out::Stat(Box::new(st)))
                        .map_err(|e| failure(e, &[&p]))
                }
                Op::Lstat(p) => {
                    let mut st: libc::stat = std::mem::zeroed();
                    check(libc::lstat(p.as_ptr(), &mut st) as i64)
                        .map(|_| Out::Stat(Box::new(st)))
                        .map_err(|e| failure(e, &[&p]))
                }
                Op::Fstat(fd) => {
                    let mut st: libc::stat = std::mem::zeroed();
                    check(libc::fstat(fd, &mut st) as i64)
                        .map(|_| Out::Stat(Box::new(st)))
                        .map_err(|e| failure(e, &[]))
                }
                Op::Rename(a, b) => done(libc::rename(a.as_ptr(), b.as_ptr()), &[&a, &b]),
                Op::Fsync(fd) => done(libc::fsync(fd), &[]),
                Op::Fdatasync(fd) => done(libc::fdatasync(fd), &[]),
                Op::Ftruncate(fd, len) => done(libc::ftruncate(fd, len), &[]),
                Op::Sendfile(out_fd, in_fd, offset, size) => {
                    let mut off = offset;
                    let n = if offset >= 0 {
                        libc::sendfile(out_fd, in_fd, &mut off, size)
                    } else {
                        libc::sendfile(out_fd, in_fd, std::ptr::null_mut(), size)
                    };
                    check(n as i64).map(Out::Int).map_err(|e| failure(e, &[]))
                }
                Op::Access(p, mode) => {
                    // luv answers true or false, and fails only on a bad argument.
                    if libc::access(p.as_ptr(), mode) == 0 {
                        Ok(Out::Access(true))
                    } else {
                        let e = os_err();
                        match e.raw_os_error() {
                            Some(libc::EINVAL) => Err(failure(e, &[&p])),
                            _ => Ok(Out::Access(false)),
                        }
                    }
                }
                Op::Chmod(p, mode) => done(libc::chmod(p.as_ptr(), mode), &[&p]),
                Op::Fchmod(fd, mode) => done(libc::fchmod(fd, mode), &[]),
                Op::Utime(p, atime, mtime, follow) => {
                    let ts = [timespec(atime), timespec(mtime)];
                    let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
                    done(
                        libc::utimensat(libc::AT_FDCWD, p.as_ptr(), ts.as_ptr(), flags),
                        &[&p],
                    )
                }
                Op::Futime(fd, atime, mtime) => {
                    let ts = [timespec(atime), timespec(mtime)];
                    done(libc::futimens(fd, ts.as_ptr()), &[])
                }
                Op::Link(a, b) => done(libc::link(a.as_ptr(), b.as_ptr()), &[&a, &b]),
                Op::Symlink(a, b) => done(libc::symlink(a.as_ptr(), b.as_ptr()), &[&a, &b]),
                Op::Readlink(p) => std::fs::read_link(OsStr::from_bytes(p.as_bytes()))
                    .map(|t| Out::Bytes(t.as_os_str().as_bytes().to_vec()))
                    .map_err(|e| failure(e, &[&p])),
                Op::Realpath(p) => std::fs::canonicalize(OsStr::from_bytes(p.as_bytes()))
                    .map(|t| Out::Bytes(t.as_os_str().as_bytes().to_vec()))
                    .map_err(|e| failure(e, &[&p])),
                Op::Chown(p, uid, gid, follow) => {
                    let rc = if follow {
                        libc::chown(p.as_ptr(), uid, gid)
                    } else {
                        libc::lchown(p.as_ptr(), uid, gid)
                    };
                    done(rc, &[&p])
                }
                Op::Fchown(fd, uid, gid) => done(libc::fchown(fd, uid, gid), &[]),
                Op::Copyfile(a, b, flags) => {
                    // flags: 1 (COPYFILE_EXCL) refuses an existing destination.
                    let to = OsStr::from_bytes(b.as_bytes());
                    if flags & 1 != 0 && std::fs::symlink_metadata(to).is_ok() {
                        return Err(failure(
                            io::Error::from_raw_os_error(libc::EEXIST),
                            &[&a, &b],
                        ));
                    }
                    std::fs::copy(OsStr::from_bytes(a.as_bytes()), to)
                        .map(|_| Out::Done)
                        .map_err(|e| failure(e, &[&a, &b]))
                }
                Op::Statfs(p) => {
                    let mut st: libc::statfs = std::mem::zeroed();
                    check(libc::statfs(p.as_ptr(), &mut st) as i64)
                        .map(|_| Out::Statfs(Box::new(st)))
                        .map_err(|e| failure(e, &[&p]))
                }
            }
        }
    }
}

/// A call that answers 0 or -1: true, or its failure.
fn done(rc: i32, paths: &[&CStr]) -> OpResult {
    check(rc as i64)
        .map(|_| Out::Done)
        .map_err(|e| failure(e, paths))
}

fn time_table(lua: &Lua, sec: i64, nsec: i64) -> Result<Table> {
    let t = lua.create_table()?;
    t.set("sec", sec)?;
    t.set("nsec", nsec)?;
    Ok(t)
}

/// luv's stat table.
fn stat_table(lua: &Lua, st: &libc::stat) -> Result<Table> {
    let t = lua.create_table()?;
    t.set("dev", st.st_dev)?;
    t.set("mode", st.st_mode)?;
    t.set("nlink", st.st_nlink)?;
    t.set("uid", st.st_uid)?;
    t.set("gid", st.st_gid)?;
    t.set("rdev", st.st_rdev)?;
    t.set("ino", st.st_ino)?;
    t.set("size", st.st_size)?;
    t.set("blksize", st.st_blksize)?;
    t.set("blocks", st.st_blocks)?;
    t.set("flags", 0)?;
    t.set("gen", 0)?;
    t.set("atime", time_table(lua, st.st_atime, st.st_atime_nsec)?)?;
    t.set("mtime", time_table(lua, st.st_mtime, st.st_mtime_nsec)?)?;
    t.set("ctime", time_table(lua, st.st_ctime, st.st_ctime_nsec)?)?;
    t.set("birthtime", time_table(lua, st.st_ctime, st.st_ctime_nsec)?)?;
    t.set("type", mode_type(st.st_mode))?;
    Ok(t)
}

/// The directory listing `fs_scandir` returns; `fs_scandir_next` walks it.
pub struct ScanDir {
    entries: Vec<(Vec<u8>, &'static str)>,
    next: usize,
}

impl UserData for ScanDir {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method_mut("next", |lua, this, ()| scandir_next(lua, this));
    }
}

fn scandir_next(lua: &Lua, this: &mut ScanDir) -> Result<MultiValue> {
    match this.entries.get(this.next) {
        Some((name, kind)) => {
            this.next += 1;
            (lua.create_string(name)?, *kind).into_lua_multi(lua)
        }
        None => Ok(MultiValue::new()),
    }
}

/// `uv.fs_scandir_next(req)`: the next entry's name and type, or nothing at the end.
pub fn fs_scandir_next(lua: &Lua, mut dir: mlua::UserDataRefMut<ScanDir>) -> Result<MultiValue> {
    scandir_next(lua, &mut dir)
}

/// The Lua values of a request's output.
fn out_values(lua: &Lua, out: Out) -> Result<MultiValue> {
    match out {
        Out::Done => true.into_lua_multi(lua),
        Out::Int(n) => n.into_lua_multi(lua),
        Out::Bytes(b) => lua.create_string(&b)?.into_lua_multi(lua),
        Out::FdPath(fd, p) => (fd, lua.create_string(&p)?).into_lua_multi(lua),
        Out::Stat(st) => stat_table(lua, &st)?.into_lua_multi(lua),
        Out::Access(ok) => ok.into_lua_multi(lua),
        Out::Entries(entries) => lua
            .create_userdata(ScanDir { entries, next: 0 })?
            .into_lua_multi(lua),
        Out::Statfs(st) => {
            let t = lua.create_table()?;
            t.set("type", st.f_type)?;
            t.set("bsize", st.f_bsize)?;
            t.set("blocks", st.f_blocks)?;
            t.set("bfree", st.f_bfree)?;
            t.set("bavail", st.f_bavail)?;
            t.set("files", st.f_files)?;
            t.set("ffree", st.f_ffree)?;
            t.into_lua_multi(lua)
        }
    }
}

/// The arguments of one call, read in order with the checks luv makes.
struct Args<'a> {
    name: &'a str,
    values: std::vec::IntoIter<Value>,
    n: usize,
}

impl Args<'_> {
    fn next(&mut self) -> Value {
        self.n += 1;
        self.values.next().unwrap_or(Value::Nil)
    }

    fn bad(&self, what: &str, got: &Value) -> mlua::Error {
        mlua::Error::runtime(format!(
            "uv.{}: argument #{} must be {what}, got {}",
            self.name,
            self.n,
            got.type_name()
        ))
    }

    fn path(&mut self) -> Result<CString> {
        match self.next() {
            Value::String(s) => CString::new(s.as_bytes().to_vec()).map_err(|_| {
                mlua::Error::runtime(format!(
                    "uv.{}: argument #{} (a path) contains a NUL byte",
                    self.name, self.n
                ))
            }),
            other => Err(self.bad("a path (string)", &other)),
        }
    }

    fn int(&mut self) -> Result<i64> {
        match self.next() {
            Value::Integer(n) => Ok(n),
            Value::Number(n) if n.fract() == 0.0 => Ok(n as i64),
            other => Err(self.bad("an integer", &other)),
        }
    }

    fn opt_int(&mut self, default: i64) -> Result<i64> {
        match self.next() {
            Value::Nil => Ok(default),
            Value::Integer(n) => Ok(n),
            Value::Number(n) if n.fract() == 0.0 => Ok(n as i64),
            other => Err(self.bad("an integer or nil", &other)),
        }
    }

    fn fd(&mut self) -> Result<i32> {
        let n = self.int()?;
        i32::try_from(n).map_err(|_| mlua::Error::runtime(format!("uv.{}: bad fd {n}", self.name)))
    }

    fn number(&mut self) -> Result<f64> {
        match self.next() {
            Value::Integer(n) => Ok(n as f64),
            Value::Number(n) => Ok(n),
            other => Err(self.bad("a number", &other)),
        }
    }

    /// open(2)'s flags from luv's strings ("r", "w+", "ax", ...) or a number.
    fn open_flags(&mut self) -> Result<i32> {
        let v = self.next();
        let s = match &v {
            Value::Integer(n) => return Ok(*n as i32),
            Value::Number(n) => return Ok(*n as i32),
            Value::String(s) => s.to_str()?.to_string(),
            _ => return Err(self.bad("flags (a string or integer)", &v)),
        };
        Ok(match s.as_str() {
            "r" => libc::O_RDONLY,
            "rs" | "sr" => libc::O_RDONLY | libc::O_SYNC,
            "r+" => libc::O_RDWR,
            "rs+" | "sr+" => libc::O_RDWR | libc::O_SYNC,
            "w" => libc::O_TRUNC | libc::O_CREAT | libc::O_WRONLY,
            "wx" | "xw" => libc::O_TRUNC | libc::O_CREAT | libc::O_WRONLY | libc::O_EXCL,
            "w+" => libc::O_TRUNC | libc::O_CREAT | libc::O_RDWR,
            "wx+" | "xw+" => libc::O_TRUNC | libc::O_CREAT | libc::O_RDWR | libc::O_EXCL,
            "a" => libc::O_APPEND | libc::O_CREAT | libc::O_WRONLY,
            "ax" | "xa" => libc::O_APPEND | libc::O_CREAT | libc::O_WRONLY | libc::O_EXCL,
            "a+" => libc::O_APPEND | libc::O_CREAT | libc::O_RDWR,
            "ax+" | "xa+" => libc::O_APPEND | libc::O_CREAT | libc::O_RDWR | libc::O_EXCL,
            other => {
                return Err(mlua::Error::runtime(format!(
                    "uv.{}: unknown open flags {other:?}",
                    self.name
                )))
            }
        })
    }

    /// access(2)'s mode from "r", "w", "x" (any of them) or a number.
    fn access_mode(&mut self) -> Result<i32> {
        match self.next() {
            Value::Nil => Ok(libc::F_OK),
            Value::Integer(n) => Ok(n as i32),
            Value::Number(n) => Ok(n as i32),
            Value::String(s) => {
                let mut mode = libc::F_OK;
                for c in s.to_str()?.chars() {
                    mode |= match c.to_ascii_lowercase() {
                        'r' => libc::R_OK,
                        'w' => libc::W_OK,
                        'x' => libc::X_OK,
                        _ => {
                            return Err(mlua::Error::runtime(format!(
                                "uv.{}: access mode must use r, w and x",
                                self.name
                            )))
                        }
                    };
                }
                Ok(mode)
            }
            other => Err(self.bad("a mode (string or integer)", &other)),
        }
    }

    /// The data of fs_write: a string or a list of strings.
    fn data(&mut self) -> Result<Vec<u8>> {
        match self.next() {
            Value::String(s) => Ok(s.as_bytes().to_vec()),
            Value::Table(t) => {
                let mut out = Vec::new();
                for part in t.sequence_values::<mlua::LuaString>() {
                    out.extend_from_slice(&part?.as_bytes());
                }
                Ok(out)
            }
            other => Err(self.bad("data (a string or a list of strings)", &other)),
        }
    }
}

/// Reads the call's arguments into an Op.
fn parse(name: &str, args: &mut Args) -> Result<Op> {
    Ok(match name {
        "fs_close" => Op::Close(args.fd()?),
        "fs_open" => {
            let p = args.path()?;
            let flags = args.open_flags()?;
            Op::Open(p, flags, args.opt_int(0o644)? as u32)
        }
        "fs_read" => {
            let fd = args.fd()?;
            let size = args.opt_int(64 * 1024)?.max(0) as usize;
            Op::Read(fd, size, args.opt_int(-1)?)
        }
        "fs_write" => {
            let fd = args.fd()?;
            let data = args.data()?;
            Op::Write(fd, data, args.opt_int(-1)?)
        }
        "fs_unlink" => Op::Unlink(args.path()?),
        "fs_mkdir" => {
            let p = args.path()?;
            Op::Mkdir(p, args.opt_int(0o777)? as u32)
        }
        "fs_mkdtemp" => Op::Mkdtemp(args.path()?),
        "fs_mkstemp" => Op::Mkstemp(args.path()?),
        "fs_rmdir" => Op::Rmdir(args.path()?),
        "fs_scandir" => Op::Scandir(args.path()?),
        "fs_stat" => Op::Stat(args.path()?),
        "fs_fstat" => Op::Fstat(args.fd()?),
        "fs_lstat" => Op::Lstat(args.path()?),
        "fs_rename" => Op::Rename(args.path()?, args.path()?),
        "fs_fsync" => Op::Fsync(args.fd()?),
        "fs_fdatasync" => Op::Fdatasync(args.fd()?),
        "fs_ftruncate" => {
            let fd = args.fd()?;
            Op::Ftruncate(fd, args.opt_int(0)?)
        }
        "fs_sendfile" => {
            let out_fd = args.fd()?;
            let in_fd = args.fd()?;
            let offset = args.opt_int(-1)?;
            Op::Sendfile(out_fd, in_fd, offset, args.int()?.max(0) as usize)
        }
        "fs_access" => {
            let p = args.path()?;
            Op::Access(p, args.access_mode()?)
        }
        "fs_chmod" => {
            let p = args.path()?;
            Op::Chmod(p, args.int()? as u32)
        }
        "fs_fchmod" => {
            let fd = args.fd()?;
            Op::Fchmod(fd, args.int()? as u32)
        }
        "fs_utime" | "fs_lutime" => {
            let p = args.path()?;
            let atime = args.number()?;
            Op::Utime(p, atime, args.number()?, name == "fs_utime")
        }
        "fs_futime" => {
            let fd = args.fd()?;
            let atime = args.number()?;
            Op::Futime(fd, atime, args.number()?)
        }
        "fs_link" => Op::Link(args.path()?, args.path()?),
        "fs_symlink" => Op::Symlink(args.path()?, args.path()?),
        "fs_readlink" => Op::Readlink(args.path()?),
        "fs_realpath" => Op::Realpath(args.path()?),
        "fs_chown" | "fs_lchown" => {
            let p = args.path()?;
            let uid = args.int()? as u32;
            Op::Chown(p, uid, args.int()? as u32, name == "fs_chown")
        }
        "fs_fchown" => {
            let fd = args.fd()?;
            let uid = args.int()? as u32;
            Op::Fchown(fd, uid, args.int()? as u32)
        }
        "fs_copyfile" => {
            let a = args.path()?;
            let b = args.path()?;
            let flags = match args.next() {
                Value::Table(t) => i32::from(t.get::<Option<bool>>("excl")?.unwrap_or(false)),
                Value::Integer(n) => n as i32,
                _ => 0,
            };
            Op::Copyfile(a, b, flags)
        }
        "fs_statfs" => Op::Statfs(args.path()?),
        _ => unreachable!("only the names in NAMES are installed"),
    })
}

/// Every fs function this file implements, by luv's name.
pub const NAMES: &[&str] = &[
    "fs_close",
    "fs_open",
    "fs_read",
    "fs_write",
    "fs_unlink",
    "fs_mkdir",
    "fs_mkdtemp",
    "fs_mkstemp",
    "fs_rmdir",
    "fs_scandir",
    "fs_stat",
    "fs_fstat",
    "fs_lstat",
    "fs_rename",
    "fs_fsync",
    "fs_fdatasync",
    "fs_ftruncate",
    "fs_sendfile",
    "fs_access",
    "fs_chmod",
    "fs_fchmod",
    "fs_utime",
    "fs_futime",
    "fs_lutime",
    "fs_link",
    "fs_symlink",
    "fs_readlink",
    "fs_realpath",
    "fs_chown",
    "fs_fchown",
    "fs_lchown",
    "fs_copyfile",
    "fs_statfs",
];

/// `uv.<name>(args..., [callback])`.
pub fn call(
    lua: &Lua,
    state: &SharedState,
    name: &'static str,
    args: MultiValue,
) -> Result<MultiValue> {
    let (values, waker) = req::split_callback(lua, name, args)?;
    let mut args = Args {
        name,
        values: values.into_iter(),
        n: 0,
    };
    let op = parse(name, &mut args)?;
    req::run(
        lua,
        state,
        waker,
        move || op.run(),
        |lua, res| -> Result<Outcome> {
            Ok(match res {
                Ok(out) => Ok(out_values(lua, out)?),
                Err(f) => Err(f),
            })
        },
    )
}

/// Adds the fs functions to the `native` table.
pub fn install(lua: &Lua, n: &Table, state: &SharedState) -> Result<()> {
    for &name in NAMES {
        let st = state.clone();
        n.set(
            name,
            lua.create_function(move |lua, args: MultiValue| call(lua, &st, name, args))?,
        )?;
    }
    n.set("fs_scandir_next", lua.create_function(fs_scandir_next)?)?;
    Ok(())
}
