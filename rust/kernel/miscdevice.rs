// SPDX-License-Identifier: GPL-2.0

//! Miscellaneous character devices.
//!
//! A [`Registration`] adds a character device with a dynamic minor of the misc major (10),
//! whose node devtmpfs creates as `/dev/<name>`; a `/` in the name makes a directory
//! (`dsa/wq0.0` gives `/dev/dsa/wq0.0`). Each open file
//! gets its own [`Operations::File`], made by [`Operations::open`] from the registration's
//! data; the file operations then see only that value, so a file may outlive its
//! registration.
//!
//! The file operations of a type are a `static` [`FileOps`], made ready once with the module
//! that owns them ([`FileOps::init`]): the VFS holds that module while a file is open, so the
//! code of the operations stays loaded as long as it may be called.
//!
//! C header: [`include/linux/miscdevice.h`](srctree/include/linux/miscdevice.h)

use crate::{
    bindings, container_of,
    device::Device,
    error::to_result,
    prelude::*,
    str::{CStr, CString},
    types::{ForeignOwnable, Opaque},
    uaccess::{UserPtr, UserSlice, UserSliceReader},
    ThisModule,
};
use core::{
    marker::{PhantomData, PhantomPinned},
    sync::atomic::{AtomicU8, Ordering},
};

/// The file operations of a misc device.
pub trait Operations: Send + Sync + Sized + 'static {
    /// What each open file holds.
    type File: Send + Sync + 'static;

    /// Opens a file of the device whose registration carries `self`.
    ///
    /// Runs under the misc core's global mutex: it must not block for long, nor register or
    /// deregister misc devices.
    fn open(&self) -> Result<Self::File>;

    /// Writes what `data` holds to the file; returns how many bytes were taken.
    fn write(_file: &Self::File, _data: UserSliceReader) -> Result<usize> {
        Err(EINVAL)
    }
}

/// The `struct file_operations` of `T`: meant to be a `static`, made ready with
/// [`FileOps::init`] before the first [`Registration`].
///
/// # Invariants
///
/// `fops` is written only by the thread that moved `state` from 0 to 1; once `state` is 2,
/// `fops` holds `T`'s callbacks and its module, and is not written again.
pub struct FileOps<T: Operations> {
    fops: Opaque<bindings::file_operations>,
    state: AtomicU8,
    _p: PhantomData<T>,
}

// SAFETY: `fops` is written once, by the thread that claimed `state`, before `state` is 2;
// afterwards it is only read.
unsafe impl<T: Operations> Sync for FileOps<T> {}

// SAFETY: As above.
unsafe impl<T: Operations> Send for FileOps<T> {}

impl<T: Operations> FileOps<T> {
    /// File operations that are not ready yet.
    pub const fn new() -> Self {
        Self {
            fops: Opaque::uninit(),
            state: AtomicU8::new(0),
            _p: PhantomData,
        }
    }

    /// Makes the operations ready, owned by `module`. Call it once, at module initialisation,
    /// before any registration; later calls do nothing.
    pub fn init(&'static self, module: &'static ThisModule) {
        if self
            .state
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        // SAFETY: `file_operations` is a C struct for which all zeroes is a valid value.
        let mut fops: bindings::file_operations = unsafe { core::mem::zeroed() };
        fops.owner = module.as_ptr();
        fops.open = Some(open_callback::<T>);
        fops.release = Some(release_callback::<T>);
        fops.write = Some(write_callback::<T>);
        fops.llseek = Some(bindings::noop_llseek);
        // SAFETY: We claimed `state`, and it was not ready, so no registration (and no file)
        // uses `fops` yet and no other thread writes it.
        unsafe { self.fops.get().write(fops) };
        // INVARIANT: `fops` is complete.
        self.state.store(2, Ordering::Release);
    }
}

impl<T: Operations> Default for FileOps<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// # Safety
///
/// Called by `misc_open()` with the file's `private_data` set to the `misc` of a live
/// `Registration<T>`, under `misc_mtx` (so the registration cannot go meanwhile).
unsafe extern "C" fn open_callback<T: Operations>(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> crate::ffi::c_int {
    // SAFETY: `file` is valid; `misc_open()` stored the `miscdevice` in `private_data`.
    let misc = unsafe { (*file).private_data }.cast::<bindings::miscdevice>();
    // SAFETY: `misc` is the `misc` of a live `Registration<T>` (function safety requirement).
    let reg = unsafe { &*container_of!(misc, Registration<T>, misc) };
    match reg.data.open().and_then(|f| Ok(KBox::new(f, GFP_KERNEL)?)) {
        Ok(f) => {
            // SAFETY: `file` is valid; `release_callback` takes the value back.
            unsafe { (*file).private_data = f.into_foreign().cast_mut() };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the VFS with a file that `open_callback::<T>` opened.
unsafe extern "C" fn release_callback<T: Operations>(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> crate::ffi::c_int {
    // SAFETY: `open_callback` stored a `KBox<T::File>` in `private_data`; the file is released
    // once.
    drop(unsafe { <KBox<T::File> as ForeignOwnable>::from_foreign((*file).private_data) });
    0
}

/// # Safety
///
/// Called by the VFS with a file that `open_callback::<T>` opened, and `count` bytes of user
/// memory at `buf`.
unsafe extern "C" fn write_callback<T: Operations>(
    file: *mut bindings::file,
    buf: *const crate::ffi::c_char,
    count: usize,
    _pos: *mut bindings::loff_t,
) -> isize {
    // SAFETY: `open_callback` stored a `KBox<T::File>` in `private_data`, which lives until
    // the file is released, after this call.
    let f = unsafe { <KBox<T::File> as ForeignOwnable>::borrow((*file).private_data) };
    let data = UserSlice::new(buf as UserPtr, count).reader();
    match T::write(f, data) {
        // CAST: at most `count`, which the VFS bounds by `MAX_RW_COUNT`.
        Ok(n) => n.min(count) as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// A registered misc device whose files are opened from a `T`.
///
/// # Invariants
///
/// Once [`Registration::new`] returns it, `misc` is registered with `misc_register()` until
/// drop, with the operations of a ready `FileOps<T>` and `name`; `registered` says
/// whether it got that far.
#[pin_data(PinnedDrop)]
#[repr(C)]
pub struct Registration<T: Operations> {
    #[pin]
    misc: Opaque<bindings::miscdevice>,
    data: T,
    name: CString,
    registered: bool,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: The registration only hands out `&T`, and `T` is `Send + Sync`.
unsafe impl<T: Operations> Send for Registration<T> {}

// SAFETY: As above.
unsafe impl<T: Operations> Sync for Registration<T> {}

impl<T: Operations> Registration<T> {
    /// Registers the misc device `name`, with the node `/dev/<name>` (mode 0600), a child of
    /// `parent`, whose files `data` opens. The driver core stores a `/` of `name` as `!` in
    /// sysfs, and devtmpfs turns it back into a directory of `/dev`.
    ///
    /// Fails with `EINVAL` if `fops` is not ready.
    pub fn new(
        fops: &'static FileOps<T>,
        name: CString,
        parent: &Device,
        data: T,
    ) -> Result<Pin<KBox<Self>>> {
        if fops.state.load(Ordering::Acquire) != 2 {
            return Err(EINVAL);
        }
        let mut reg = KBox::pin(
            Self {
                misc: Opaque::uninit(),
                data,
                name,
                registered: false,
                _pin: PhantomPinned,
            },
            GFP_KERNEL,
        )?;
        // SAFETY: We do not move out of `reg`; only the C structure is written.
        let this = unsafe { reg.as_mut().get_unchecked_mut() };
        // SAFETY: `miscdevice` is a C struct for which all zeroes is a valid value.
        let mut misc: bindings::miscdevice = unsafe { core::mem::zeroed() };
        misc.minor = bindings::MISC_DYNAMIC_MINOR as _;
        misc.name = this.name.as_char_ptr();
        misc.mode = 0o600;
        misc.fops = fops.fops.get();
        misc.parent = parent.as_raw();
        // SAFETY: `misc` is ours and not registered.
        unsafe { this.misc.get().write(misc) };
        // SAFETY: `misc` is initialised and pinned in `reg` until `drop` deregisters it;
        // `fops` is ready and static; the strings live in `reg`.
        to_result(unsafe { bindings::misc_register(this.misc.get()) })?;
        // INVARIANT: registered with the operations and name above.
        this.registered = true;
        Ok(reg)
    }

    /// The minor number the device got.
    pub fn minor(&self) -> u32 {
        // SAFETY: A returned registration is registered (type invariant), and
        // `misc_register()` wrote its minor.
        let minor = unsafe { (*self.misc.get()).minor };
        // CAST: misc minors are below 256 (or dynamic ones below 1 << 20).
        minor as u32
    }

    /// The value the registration carries.
    pub fn data(&self) -> &T {
        &self.data
    }

    /// The name of the device.
    pub fn name(&self) -> &CStr {
        &self.name
    }
}

#[pinned_drop]
impl<T: Operations> PinnedDrop for Registration<T> {
    fn drop(self: Pin<&mut Self>) {
        if self.registered {
            // SAFETY: `misc` is registered (type invariant).
            unsafe { bindings::misc_deregister(self.misc.get()) };
        }
    }
}

/// The major number of misc devices.
pub const MISC_MAJOR: u32 = bindings::MISC_MAJOR;
