// SPDX-License-Identifier: GPL-2.0

//! Guest user contexts: one uverbs file of the real device each.

use kernel::prelude::*;

use crate::mmap::MmapRegion;
use crate::mr::GuestMr;
use crate::mmap::MAX_MMAPS_PER_CONTEXT;
use crate::mr::MAX_MRS_PER_CONTEXT;
use crate::sys;
use crate::table::Table;
use crate::uverbs::{bytes_of_mut, Command, Service, UverbsFile};
use crate::wire::{OpenContextRsp, Udata, UdataReq, MAX_UDATA};

/// Everything one guest context owns in the backend. Closing the uverbs
/// file destroys every object the guest created in it; see
/// `frontend::close_context` for the order of tear-down.
pub(crate) struct Context {
    pub(crate) file: UverbsFile,
    pub(crate) mrs: Table<GuestMr>,
    pub(crate) mmaps: Table<MmapRegion>,
}

/// `OpenContext`: open a uverbs file and run `GET_CONTEXT` on it.
pub(crate) fn open(svc: &Service, path: &kernel::str::CStr, req: &UdataReq) -> Result<(Context, OpenContextRsp)> {
    let file = UverbsFile::open(svc, path)?;
    let mut cmd = sys::ib_uverbs_get_context::default();
    let mut resp = sys::ib_uverbs_get_context_resp::default();
    let mut out = [0u8; MAX_UDATA];
    file.exec(
        svc,
        Command {
            command: sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_GET_CONTEXT,
            req: bytes_of_mut(&mut cmd),
            driver_in: req.udata.as_slice(),
            resp: bytes_of_mut(&mut resp),
            driver_out: &mut out,
        },
    )?;
    // The async event file was installed in the service's fd table; the
    // context keeps working without it (events are not forwarded yet, see
    // Documentation/design.rst), so do not leak the descriptor.
    // SAFETY: The fd was just created in this process by GET_CONTEXT.
    unsafe { sys::xenib_close_fd(resp.async_fd) };
    let rsp = OpenContextRsp { ctx: Default::default(), udata: Udata::new(&out).ok_or(EINVAL)? };
    Ok((Context { file, mrs: Table::new(MAX_MRS_PER_CONTEXT), mmaps: Table::new(MAX_MMAPS_PER_CONTEXT) }, rsp))
}
