// SPDX-License-Identifier: GPL-2.0

//! What a guest may name on the real device: its own RDMA addresses as
//! source GIDs, the default partition, unprivileged QKeys, and the QP
//! types we serve.
//!
//! A guest's addresses are the admin's: `xenib-attach attach DOMAIN
//! --rdma-ip ADDR` writes them to the backend's xenstore directory (which
//! the guest can read but not write), and adds them to the real port's
//! netdev in dom0, which gives them GIDs there. The loopback frontend's
//! come from the `loop_rdma_ip` parameter. A guest with no address keeps
//! the port's default GID (the MAC-based link-local one, which every such
//! guest shares with dom0); a guest with addresses may use only those.
//!
//! Source GIDs cross the ring by value (the guest's GID table is not the
//! device's): each is looked up in the device's table and its index used
//! only if the guest owns it. Everything else gets `EPERM` and a
//! rate-limited log line naming the guest.
//!
//! An address vector is read for its port's link layer first
//! (`xen_ring/src/av.rs`): its port must be the device's, and only the
//! fields that link layer uses are kept (on RoCE a guest's `dlid` and
//! `src_path_bits` are dropped, on InfiniBand its path bits must stay
//! within the port's LMC); what is refused there gets `EINVAL`. The
//! commands built for the device take every field from the checked
//! [`Address`], never from the guest's request.

use core::fmt::Display;
use kernel::prelude::*;

use crate::av::{check_qp_ports, qp_mask, AddressVector, AvError};
use crate::device::Device;
use crate::sys::{self, warn_ratelimited};
use crate::wire::{AhAttr, Gid, ModifyQpReq, QpType};

/// Addresses one guest may hold.
pub(crate) const MAX_ADDRESSES: usize = 8;
/// The longest address list we read (`MAX_ADDRESSES` IPv6 addresses).
pub(crate) const MAX_ADDRESS_TEXT: usize = MAX_ADDRESSES * 40;

/// QKeys with the top bit set are reserved for privileged (kernel) use.
const PRIVILEGED_QKEY: u32 = 0x8000_0000;

const QP_PKEY_INDEX: u32 = sys::ib_qp_attr_mask_IB_QP_PKEY_INDEX;
const QP_QKEY: u32 = sys::ib_qp_attr_mask_IB_QP_QKEY;
const QP_AV: u32 = qp_mask::AV;
const QP_ALT_PATH: u32 = qp_mask::ALT_PATH;
// The pure checks (`check_qp_ports`) use the kernel's mask bits.
const _: () = assert!(
    qp_mask::AV == sys::ib_qp_attr_mask_IB_QP_AV
        && qp_mask::PORT == sys::ib_qp_attr_mask_IB_QP_PORT
        && qp_mask::ALT_PATH == sys::ib_qp_attr_mask_IB_QP_ALT_PATH
);
// What `caps::advertised` keeps and clears are the kernel's flags.
const _: () = {
    use crate::caps::device_cap as cap;
    assert!(
        cap::XRC == sys::ib_device_cap_flags_IB_DEVICE_XRC as u64
            && cap::MANAGED_FLOW_STEERING
                == sys::ib_device_cap_flags_IB_DEVICE_MANAGED_FLOW_STEERING as u64
            && cap::RAW_SCATTER_FCS == sys::ib_device_cap_flags_IB_DEVICE_RAW_SCATTER_FCS as u64
            && cap::MEM_WINDOW_TYPE_2B == sys::ib_device_cap_flags_IB_DEVICE_MEM_WINDOW_TYPE_2B as u64
            && cap::ATOMIC_WRITE == sys::ib_device_cap_flags_IB_DEVICE_ATOMIC_WRITE as u64
    );
};

/// One guest's policy.
pub(crate) struct Policy {
    /// The guest's addresses as GIDs (IPv4 ones IPv4-mapped).
    addresses: [Gid; MAX_ADDRESSES],
    count: usize,
}

impl Policy {
    /// Parses `text`, IPv4 and IPv6 addresses separated by spaces or
    /// commas (at most [`MAX_ADDRESSES`]).
    pub(crate) fn parse(text: &[u8]) -> Result<Self> {
        let mut p = Policy {
            addresses: [[0; 16]; MAX_ADDRESSES],
            count: 0,
        };
        for word in text
            .split(|c| matches!(c, b' ' | b',' | b'\n' | b'\t'))
            .filter(|w| !w.is_empty())
        {
            let slot = p.addresses.get_mut(p.count).ok_or(E2BIG)?;
            // SAFETY: `word` is `word.len()` readable bytes; `slot` is 16.
            let ret = unsafe {
                sys::xenib_parse_ip_gid(word.as_ptr().cast(), word.len() as i32, slot.as_mut_ptr())
            };
            if ret != 0 {
                return Err(EINVAL);
            }
            p.count += 1;
        }
        Ok(p)
    }

    /// The guest's addresses.
    pub(crate) fn addresses(&self) -> &[Gid] {
        &self.addresses[..self.count]
    }

    /// Whether the guest may use `gid` as its source. `default` is the
    /// port's default GID, which is its own only while it has no address.
    fn owns(&self, gid: &Gid, default: &Gid) -> bool {
        match self.addresses() {
            [] => gid == default,
            own => own.contains(gid),
        }
    }

    /// Checks a guest's address vector `a`: its port, the fields of its
    /// link layer, and its source GID, which must be the guest's.
    pub(crate) fn address(&self, dev: &Device, who: &impl Display, a: &AhAttr) -> Result<Address> {
        let av = AddressVector::from_guest(a, dev.port_count()?, |p| {
            dev.port_info(p).map_err(Refusal::Device)
        })
        .map_err(|r| match r {
            Refusal::Av(e) => {
                warn_ratelimited!("{}: refused an address: {}\n", who, e);
                Error::from_errno(-e.errno())
            }
            Refusal::Device(e) => e,
        })?;
        let sgid_index = match &av.grh {
            Some(g) => self.source_index(dev, who, av.port_num, &g.sgid, g.sgid_type)?,
            None => 0,
        };
        Ok(Address { av, sgid_index })
    }

    /// The device's index of source GID `sgid` on `port`, if the guest
    /// owns it.
    fn source_index(
        &self,
        dev: &Device,
        who: &impl Display,
        port: u8,
        sgid: &Gid,
        sgid_type: u8,
    ) -> Result<u8> {
        let (default, _) = dev.gid_at(port, 0)?.ok_or(ENODEV)?;
        if !self.owns(sgid, &default) {
            warn_ratelimited!("{}: refused source GID {:?}: not the guest's\n", who, GidText(sgid));
            return Err(EPERM);
        }
        match dev.find_gid(port, sgid, sgid_type) {
            // The verbs ABI carries GID indices in a byte.
            Ok(i) => u8::try_from(i).map_err(|_| EINVAL),
            Err(e) => {
                warn_ratelimited!(
                    "{}: source GID {:?} (type {}) is not in the device's table\n",
                    who,
                    GidText(sgid),
                    sgid_type
                );
                Err(if e == ENODEV { e } else { EINVAL })
            }
        }
    }

    /// Checks a `ModifyQp`: the ports it names, then its QKey, P_Key
    /// indices and paths (primary, alternate; `None` where the mask does
    /// not select them).
    pub(crate) fn modify_qp(
        &self,
        dev: &Device,
        who: &impl Display,
        req: &ModifyQpReq,
    ) -> Result<QpPaths> {
        let (mask, a) = (req.attr_mask, &req.attr);
        if let Err(e) = check_qp_ports(mask, a, dev.port_count()?) {
            warn_ratelimited!("{}: refused a QP change: {}\n", who, e);
            return Err(Error::from_errno(-e.errno()));
        }
        if mask & QP_QKEY != 0 && a.qkey & PRIVILEGED_QKEY != 0 {
            warn_ratelimited!("{}: refused privileged QKey {:#x}\n", who, a.qkey);
            return Err(EPERM);
        }
        let pkey_bad = mask & QP_PKEY_INDEX != 0 && a.pkey_index != 0
            || mask & QP_ALT_PATH != 0 && a.alt_pkey_index != 0;
        if pkey_bad {
            warn_ratelimited!("{}: refused a P_Key index other than 0\n", who);
            return Err(EPERM);
        }
        let path = |selected: bool, av: &AhAttr| {
            selected.then(|| self.address(dev, who, av)).transpose()
        };
        Ok(QpPaths {
            dest: path(mask & QP_AV != 0, &a.dest)?,
            alt: path(mask & QP_ALT_PATH != 0, &a.alt_dest)?,
        })
    }

    /// Checks the type of a new QP: RC, UC and UD. Raw packet QPs would
    /// let a guest send any frame from dom0's port; XRC needs XRC
    /// domains, which we do not serve.
    pub(crate) fn qp_type(&self, who: &impl Display, t: QpType) -> Result {
        match t {
            QpType::Rc | QpType::Uc | QpType::Ud => Ok(()),
            QpType::RawPacket => {
                warn_ratelimited!("{}: refused a raw packet QP\n", who);
                Err(EPERM)
            }
            _ => Err(crate::errno::eopnotsupp()),
        }
    }

    /// Whether the guest may see the device's GID at `index`: the
    /// default GID (the front takes the port's MAC from it) and its own.
    pub(crate) fn gid_visible(&self, gid: &Gid, index: u32) -> bool {
        index == 0 || self.addresses().contains(gid)
    }
}

/// A guest's address vector as the device gets it: checked by
/// [`Policy::address`].
pub(crate) struct Address {
    /// Only the fields its port's link layer uses.
    pub(crate) av: AddressVector,
    /// The device's index of its source GID (0 without a GRH).
    pub(crate) sgid_index: u8,
}

/// The checked paths of a `ModifyQp`.
pub(crate) struct QpPaths {
    /// The primary path, if `IB_QP_AV` is set.
    pub(crate) dest: Option<Address>,
    /// The alternate path, if `IB_QP_ALT_PATH` is set.
    pub(crate) alt: Option<Address>,
}

/// Why an address vector was refused: by the checks of its link layer,
/// or because the device could not answer for its port.
enum Refusal {
    Av(AvError),
    Device(Error),
}

impl From<AvError> for Refusal {
    fn from(e: AvError) -> Self {
        Refusal::Av(e)
    }
}

/// A GID printed as IPv6 text (`::ffff:a.b.c.d` for IPv4).
struct GidText<'a>(&'a Gid);

impl core::fmt::Debug for GidText<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let g = self.0;
        if g[..10] == [0; 10] && g[10..12] == [0xff, 0xff] {
            return write!(f, "::ffff:{}.{}.{}.{}", g[12], g[13], g[14], g[15]);
        }
        for (i, pair) in g.chunks(2).enumerate() {
            let sep = if i == 0 { "" } else { ":" };
            write!(f, "{sep}{:x}", u16::from_be_bytes([pair[0], pair[1]]))?;
        }
        Ok(())
    }
}
