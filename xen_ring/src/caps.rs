// SPDX-License-Identifier: GPL-2.0
//! What a guest is told the device can do.
//!
//! The guest's `ibv_query_device` shows the backend device's attributes,
//! but a capability the backend refuses to serve must not be advertised:
//! a program that sees `IBV_DEVICE_XRC` opens an XRC domain and fails
//! where it would have chosen another path. So the backend keeps only the
//! capability flags it serves ([`SERVED_DEVICE_CAPS`], an allow-list: a
//! flag a newer device adds stays hidden until someone decides it is
//! served) and zeroes the maxima of objects it refuses (raw packet QPs,
//! EE contexts and RDDs).
//!
//! Everything else of the extended query (`odp_caps`, `rss_caps`,
//! `tm_caps`, `max_dm_size`, timestamps, ...) is not carried by
//! [`DeviceAttr`](super::msg::DeviceAttr) at all, so the guest's RDMA core
//! reports it as zero.

use super::msg::DeviceAttr;

/// `IB_UVERBS_DEVICE_*` bits (`include/uapi/rdma/ib_user_verbs.h`), the
/// values `device_cap_flags` carries. Only those this module names.
pub mod device_cap {
    /// `ibv_resize_cq`/`ibv_modify_srq` may change sizes.
    pub const RESIZE_MAX_WR: u64 = 1 << 0;
    /// The port counts bad P_Keys.
    pub const BAD_PKEY_CNTR: u64 = 1 << 1;
    /// The port counts bad Q_Keys.
    pub const BAD_QKEY_CNTR: u64 = 1 << 2;
    /// Raw datagram multicast (raw QPs: refused).
    pub const RAW_MULTI: u64 = 1 << 3;
    /// Automatic path migration (alternate paths: checked and served).
    pub const AUTO_PATH_MIG: u64 = 1 << 4;
    /// `modify_qp` may change a QP's port.
    pub const CHANGE_PHY_PORT: u64 = 1 << 5;
    /// UD address handles name their port.
    pub const UD_AV_PORT_ENFORCE: u64 = 1 << 6;
    /// `modify_qp` takes the current state.
    pub const CURR_QP_STATE_MOD: u64 = 1 << 7;
    /// Ports can be shut down (`modify_port`: not a uverbs verb).
    pub const SHUTDOWN_PORT: u64 = 1 << 8;
    /// Port active events (forwarded).
    pub const PORT_ACTIVE_EVENT: u64 = 1 << 10;
    /// `sys_image_guid` is meaningful.
    pub const SYS_IMAGE_GUID: u64 = 1 << 11;
    /// RC RNR NAKs are generated.
    pub const RC_RNR_NAK_GEN: u64 = 1 << 12;
    /// SRQs can be resized.
    pub const SRQ_RESIZE: u64 = 1 << 13;
    /// CQs can be armed for N completions.
    pub const N_NOTIFY_CQ: u64 = 1 << 14;
    /// Memory windows (forwarded; binding is a work request).
    pub const MEM_WINDOW: u64 = 1 << 17;
    /// IPoIB UD checksum offload (kernel consumers: not served).
    pub const UD_IP_CSUM: u64 = 1 << 18;
    /// XRC domains, SRQs and QPs: refused (`EOPNOTSUPP`).
    pub const XRC: u64 = 1 << 20;
    /// Local invalidate and send with invalidate work requests.
    pub const MEM_MGT_EXTENSIONS: u64 = 1 << 21;
    /// Type 2A memory windows.
    pub const MEM_WINDOW_TYPE_2A: u64 = 1 << 23;
    /// Type 2B memory windows.
    pub const MEM_WINDOW_TYPE_2B: u64 = 1 << 24;
    /// IPoIB connected-mode checksum offload (kernel consumers).
    pub const RC_IP_CSUM: u64 = 1 << 25;
    /// Raw packet checksum offload (raw QPs: refused).
    pub const RAW_IP_CSUM: u64 = 1 << 26;
    /// Flow steering (`ibv_create_flow`: refused).
    pub const MANAGED_FLOW_STEERING: u64 = 1 << 29;
    /// Raw packet FCS scatter (raw QPs: refused).
    pub const RAW_SCATTER_FCS: u64 = 1 << 34;
    /// Padding of incoming writes (a raw QP/WQ creation flag).
    pub const PCI_WRITE_END_PADDING: u64 = 1 << 36;
    /// RDMA FLUSH to global visibility.
    pub const FLUSH_GLOBAL: u64 = 1 << 38;
    /// RDMA FLUSH to persistence.
    pub const FLUSH_PERSISTENT: u64 = 1 << 39;
    /// RDMA ATOMIC WRITE.
    pub const ATOMIC_WRITE: u64 = 1 << 40;
}

/// The capability flags a guest may see: what RC, UC and UD QPs, SRQs,
/// memory windows and the forwarded events give it on the real device.
/// Not here: XRC, raw packet QPs and their offloads, flow steering, and
/// the kernel consumers' (IPoIB) offloads, which xenib does not serve.
pub const SERVED_DEVICE_CAPS: u64 = {
    use device_cap::*;
    RESIZE_MAX_WR
        | BAD_PKEY_CNTR
        | BAD_QKEY_CNTR
        | AUTO_PATH_MIG
        | CHANGE_PHY_PORT
        | UD_AV_PORT_ENFORCE
        | CURR_QP_STATE_MOD
        | PORT_ACTIVE_EVENT
        | SYS_IMAGE_GUID
        | RC_RNR_NAK_GEN
        | SRQ_RESIZE
        | N_NOTIFY_CQ
        | MEM_WINDOW
        | MEM_MGT_EXTENSIONS
        | MEM_WINDOW_TYPE_2A
        | MEM_WINDOW_TYPE_2B
        | FLUSH_GLOBAL
        | FLUSH_PERSISTENT
        | ATOMIC_WRITE
};

/// The device's attributes `a` as a guest may see them: unserved
/// capability flags cleared, the maxima of refused objects zero.
pub fn advertised(mut a: DeviceAttr) -> DeviceAttr {
    a.device_cap_flags &= SERVED_DEVICE_CAPS;
    a.max_raw_ipv6_qp = 0;
    a.max_raw_ethy_qp = 0;
    a.max_ee = 0;
    a.max_rdd = 0;
    a.max_ee_rd_atom = 0;
    a.max_ee_init_rd_atom = 0;
    a
}

#[cfg(test)]
mod tests {
    use super::device_cap::*;
    use super::*;
    use crate::codec::{Reader, Wire};

    /// rxe's flags on 64-bit (6.12, `RXE_DEVICE_CAP_FLAGS`).
    const RXE: u64 = BAD_PKEY_CNTR
        | BAD_QKEY_CNTR
        | AUTO_PATH_MIG
        | CHANGE_PHY_PORT
        | UD_AV_PORT_ENFORCE
        | PORT_ACTIVE_EVENT
        | SYS_IMAGE_GUID
        | RC_RNR_NAK_GEN
        | SRQ_RESIZE
        | MEM_MGT_EXTENSIONS
        | MEM_WINDOW
        | FLUSH_GLOBAL
        | FLUSH_PERSISTENT
        | MEM_WINDOW_TYPE_2B
        | ATOMIC_WRITE;

    fn with_caps(flags: u64) -> DeviceAttr {
        let zero = [0u8; <DeviceAttr as Wire>::SIZE];
        let a = DeviceAttr::get(&mut Reader::new(&zero, 0)).unwrap();
        DeviceAttr {
            device_cap_flags: flags,
            max_qp: 100,
            max_raw_ipv6_qp: 4,
            max_raw_ethy_qp: 5,
            max_ee: 6,
            max_rdd: 7,
            max_ee_rd_atom: 8,
            max_ee_init_rd_atom: 9,
            ..a
        }
    }

    #[test]
    fn rxe_keeps_every_flag() {
        assert_eq!(advertised(with_caps(RXE)).device_cap_flags, RXE);
    }

    #[test]
    fn unserved_flags_are_cleared() {
        // What a ConnectX (mlx5) reports besides rxe's.
        let hca = RXE
            | XRC
            | UD_IP_CSUM
            | RC_IP_CSUM
            | RAW_IP_CSUM
            | RAW_SCATTER_FCS
            | MANAGED_FLOW_STEERING
            | PCI_WRITE_END_PADDING
            | RAW_MULTI
            | SHUTDOWN_PORT
            | MEM_WINDOW_TYPE_2A
            | RESIZE_MAX_WR
            | CURR_QP_STATE_MOD
            | N_NOTIFY_CQ;
        let a = advertised(with_caps(hca));
        assert_eq!(a.device_cap_flags & XRC, 0);
        assert_eq!(
            a.device_cap_flags,
            RXE | MEM_WINDOW_TYPE_2A | RESIZE_MAX_WR | CURR_QP_STATE_MOD | N_NOTIFY_CQ
        );
    }

    #[test]
    fn unknown_flags_are_hidden() {
        // Bits no version of the ABI names yet, and the reserved 9 and 16.
        let unknown = (1 << 9) | (1 << 16) | (1 << 41) | (1 << 63);
        assert_eq!(advertised(with_caps(RXE | unknown)).device_cap_flags, RXE);
    }

    #[test]
    fn refused_objects_have_no_maxima() {
        let a = advertised(with_caps(0));
        assert_eq!(
            (a.max_raw_ipv6_qp, a.max_raw_ethy_qp, a.max_ee, a.max_rdd),
            (0, 0, 0, 0)
        );
        assert_eq!((a.max_ee_rd_atom, a.max_ee_init_rd_atom), (0, 0));
        assert_eq!(a.max_qp, 100);
    }
}
