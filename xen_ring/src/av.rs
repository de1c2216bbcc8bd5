// SPDX-License-Identifier: GPL-2.0
//! Address vectors and ports on the two link layers.
//!
//! An [`AhAttr`] carries every field of `struct ib_uverbs_qp_dest`, but
//! which of them mean anything depends on the link layer of the port it
//! names, as in the RDMA core (`rdma_ah_find_type`, `rdma_ah_set_dlid`):
//!
//! - InfiniBand: the LRH fields `dlid` and `src_path_bits` are the
//!   address; the GRH is optional.
//! - Ethernet (RoCE): there is no LRH. `dlid` and `src_path_bits` are
//!   ignored (the core drops them for `RDMA_AH_ATTR_TYPE_ROCE`), so they
//!   are zero in an [`AddressVector`] and on the wire from the backend;
//!   the GRH is required (the destination MAC is resolved from it).
//!
//! `sl`, `static_rate` and `port_num` apply on both. The backend reads a
//! guest's address vector with [`AddressVector::from_guest`]: the port
//! must be one of the device's, the fields that do not apply are dropped
//! before anything reaches the device, and what the link layer forbids
//! is refused with `EINVAL`. The source GID is the backend's policy's
//! business (`ib_back/policy.rs`), which sees only the checked vector.

use super::codec::errno::EINVAL;
use super::msg::{AhAttr, Gid, QpAttr};

/// Most ports a device may have for xenib: the front keeps per-port
/// state in arrays of this size (and refuses a backend device with more).
pub const MAX_PORTS: u8 = 16;

/// `IB_QP_*` attribute mask bits that name ports.
pub mod qp_mask {
    /// `IB_QP_AV`: the primary path's address vector (`dest`).
    pub const AV: u32 = 1 << 7;
    /// `IB_QP_PORT`: `port_num`.
    pub const PORT: u32 = 1 << 5;
    /// `IB_QP_ALT_PATH`: `alt_dest`, `alt_port_num` (and `alt_pkey_index`,
    /// `alt_timeout`).
    pub const ALT_PATH: u32 = 1 << 14;
}

/// A port's link layer (`enum rdma_link_layer`, as `PortAttr.link_layer`
/// carries it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkLayer {
    /// `IB_LINK_LAYER_INFINIBAND`: LIDs, an optional GRH.
    Infiniband,
    /// `IB_LINK_LAYER_ETHERNET`: RoCE, GIDs only.
    Ethernet,
}

impl LinkLayer {
    /// From `enum rdma_link_layer`; `IB_LINK_LAYER_UNSPECIFIED` (0, iWARP
    /// devices) and unknown values are `None`.
    pub const fn from_raw(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::Infiniband),
            2 => Some(Self::Ethernet),
            _ => None,
        }
    }

    /// The `enum rdma_link_layer` value.
    pub const fn raw(self) -> u8 {
        match self {
            Self::Infiniband => 1,
            Self::Ethernet => 2,
        }
    }
}

/// Whether `port` names one of a device's `count` ports (numbered from 1,
/// as `rdma_is_port_valid` has them for a device without port 0).
pub const fn port_valid(port: u8, count: u32) -> bool {
    port >= 1 && port as u32 <= count
}

/// The ports a `ModifyQp` names through `attr_mask` must all be the
/// device's: `port_num` (`IB_QP_PORT`), `dest.port_num` (`IB_QP_AV`),
/// `alt_port_num` and `alt_dest.port_num` (`IB_QP_ALT_PATH`). Fields the
/// mask does not select are not used (and are zero on the wire).
pub fn check_qp_ports(mask: u32, a: &QpAttr, count: u32) -> Result<(), AvError> {
    let named = [
        (qp_mask::PORT, a.port_num),
        (qp_mask::AV, a.dest.port_num),
        (qp_mask::ALT_PATH, a.alt_port_num),
        (qp_mask::ALT_PATH, a.alt_dest.port_num),
    ];
    for (bit, port) in named {
        if mask & bit != 0 && !port_valid(port, count) {
            return Err(AvError::BadPort(port));
        }
    }
    Ok(())
}

/// What the backend knows of a port when it checks an address on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortInfo {
    /// Its link layer.
    pub link_layer: LinkLayer,
    /// Its LID mask control (InfiniBand): the port answers to
    /// `2^lmc` LIDs, chosen by `src_path_bits`. Zero on RoCE.
    pub lmc: u8,
}

/// The global route header of an address vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Grh {
    /// Destination GID.
    pub dgid: Gid,
    /// Source GID, by value.
    pub sgid: Gid,
    /// The source GID's type (`IB_UVERBS_GID_TYPE_*`).
    pub sgid_type: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
}

/// The link-layer part of an address vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkAddress {
    /// InfiniBand: the LRH's destination LID, and the low bits of the
    /// source LID (`RDMA_AH_ATTR_TYPE_IB`'s `ib.dlid`, `ib.src_path_bits`).
    Ib {
        /// Destination LID.
        dlid: u16,
        /// Source path bits: which of the port's LIDs is the source.
        src_path_bits: u8,
    },
    /// RoCE (`RDMA_AH_ATTR_TYPE_ROCE`): the destination MAC is resolved
    /// by the backend's core from the GRH, never carried.
    Roce,
}

/// An address vector as it applies to its port's link layer
/// (`struct rdma_ah_attr` of type IB or RoCE, with the source GID by
/// value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressVector {
    /// Port number.
    pub port_num: u8,
    /// Service level.
    pub sl: u8,
    /// Static rate (`enum ib_rate`).
    pub static_rate: u8,
    /// The global route header, if any.
    pub grh: Option<Grh>,
    /// The link-layer address.
    pub link: LinkAddress,
}

impl AddressVector {
    /// The fields of `a` that mean something on a port of link layer
    /// `link_layer`; the others are dropped.
    pub fn from_wire(a: &AhAttr, link_layer: LinkLayer) -> Self {
        let grh = a.is_global.then_some(Grh {
            dgid: a.dgid,
            sgid: a.sgid,
            sgid_type: a.sgid_type,
            flow_label: a.flow_label,
            hop_limit: a.hop_limit,
            traffic_class: a.traffic_class,
        });
        let link = match link_layer {
            LinkLayer::Infiniband => LinkAddress::Ib {
                dlid: a.dlid,
                src_path_bits: a.src_path_bits,
            },
            LinkLayer::Ethernet => LinkAddress::Roce,
        };
        Self {
            port_num: a.port_num,
            sl: a.sl,
            static_rate: a.static_rate,
            grh,
            link,
        }
    }

    /// `(dlid, src_path_bits)`, as the uverbs structs carry them: zero
    /// on RoCE.
    pub fn lrh(&self) -> (u16, u8) {
        match self.link {
            LinkAddress::Ib {
                dlid,
                src_path_bits,
            } => (dlid, src_path_bits),
            LinkAddress::Roce => (0, 0),
        }
    }

    /// The wire form: fields that do not apply are zero.
    pub fn to_wire(&self) -> AhAttr {
        let g = self.grh.unwrap_or_default();
        let (dlid, src_path_bits) = self.lrh();
        AhAttr {
            dgid: g.dgid,
            sgid: g.sgid,
            flow_label: g.flow_label,
            dlid,
            sgid_type: g.sgid_type,
            hop_limit: g.hop_limit,
            traffic_class: g.traffic_class,
            sl: self.sl,
            src_path_bits,
            static_rate: self.static_rate,
            is_global: self.grh.is_some(),
            port_num: self.port_num,
        }
    }

    /// The backend's reading of a guest's `a`, on a device of `ports`
    /// ports; `port` describes the port `a` names (asked only once that
    /// port is known to be valid; its errors are passed on). Refused: a
    /// port that is not the device's, a RoCE vector without a GRH, and
    /// source path bits beyond the port's LMC (which would name a LID that
    /// is not the port's). On RoCE, `dlid` and `src_path_bits` are
    /// dropped, whatever they were.
    pub fn from_guest<E: From<AvError>>(
        a: &AhAttr,
        ports: u32,
        port: impl FnOnce(u8) -> Result<PortInfo, E>,
    ) -> Result<Self, E> {
        if !port_valid(a.port_num, ports) {
            return Err(AvError::BadPort(a.port_num).into());
        }
        let info = port(a.port_num)?;
        let av = Self::from_wire(a, info.link_layer);
        match av.link {
            LinkAddress::Roce if av.grh.is_none() => Err(AvError::RoceWithoutGrh.into()),
            LinkAddress::Ib { src_path_bits, .. }
                if u32::from(src_path_bits) >= 1u32 << info.lmc.min(7) =>
            {
                Err(AvError::PathBits {
                    src_path_bits,
                    lmc: info.lmc,
                }
                .into())
            }
            _ => Ok(av),
        }
    }
}

/// Why the backend refuses a guest's address vector; each is `EINVAL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AvError {
    /// The port is not one of the device's.
    BadPort(u8),
    /// A RoCE address needs a GRH.
    RoceWithoutGrh,
    /// Source path bits that name a LID beyond the port's LMC.
    PathBits {
        /// What the guest asked for.
        src_path_bits: u8,
        /// The port's LMC.
        lmc: u8,
    },
}

impl AvError {
    /// The errno the guest gets (positive).
    pub const fn errno(self) -> i32 {
        EINVAL
    }
}

impl core::fmt::Display for AvError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadPort(p) => write!(f, "port {p} is not the device's"),
            Self::RoceWithoutGrh => write!(f, "a RoCE address without a GRH"),
            Self::PathBits { src_path_bits, lmc } => write!(
                f,
                "source path bits {src_path_bits:#x} beyond the port's LMC {lmc}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a backend's port lookup fails with, next to our refusals.
    #[derive(Debug, PartialEq)]
    enum E {
        Av(AvError),
        Lookup(i32),
    }

    impl From<AvError> for E {
        fn from(e: AvError) -> Self {
            E::Av(e)
        }
    }

    fn guest(a: &AhAttr, ports: u32, info: PortInfo) -> Result<AddressVector, E> {
        AddressVector::from_guest(a, ports, |_| Ok(info))
    }

    const IB: PortInfo = PortInfo {
        link_layer: LinkLayer::Infiniband,
        lmc: 2,
    };
    const ROCE: PortInfo = PortInfo {
        link_layer: LinkLayer::Ethernet,
        lmc: 0,
    };

    fn lrh_only() -> AhAttr {
        AhAttr {
            dlid: 0x1234,
            sl: 5,
            src_path_bits: 3,
            static_rate: 7, // IB_RATE_40_GBPS
            port_num: 2,
            ..Default::default()
        }
    }

    fn global() -> AhAttr {
        AhAttr {
            dgid: [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8],
            sgid: [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1],
            sgid_type: 0,
            flow_label: 0xabcde,
            hop_limit: 64,
            traffic_class: 0x20,
            is_global: true,
            ..lrh_only()
        }
    }

    #[test]
    fn link_layer_values_are_the_kernels() {
        assert_eq!(LinkLayer::from_raw(0), None);
        assert_eq!(LinkLayer::from_raw(1), Some(LinkLayer::Infiniband));
        assert_eq!(LinkLayer::from_raw(2), Some(LinkLayer::Ethernet));
        assert_eq!(LinkLayer::from_raw(3), None);
        assert_eq!(LinkLayer::Infiniband.raw(), 1);
        assert_eq!(LinkLayer::Ethernet.raw(), 2);
    }

    #[test]
    fn ports_count_from_one() {
        assert!(!port_valid(0, 2));
        assert!(port_valid(1, 2));
        assert!(port_valid(2, 2));
        assert!(!port_valid(3, 2));
        assert!(!port_valid(255, 2));
        assert!(port_valid(255, 255));
        assert!(!port_valid(1, 0));
    }

    #[test]
    fn ib_keeps_the_lrh_fields_both_ways() {
        let av = AddressVector::from_wire(&lrh_only(), LinkLayer::Infiniband);
        assert_eq!(
            av,
            AddressVector {
                port_num: 2,
                sl: 5,
                static_rate: 7,
                grh: None,
                link: LinkAddress::Ib {
                    dlid: 0x1234,
                    src_path_bits: 3
                },
            }
        );
        assert_eq!(av.to_wire(), lrh_only());
        let g = AddressVector::from_wire(&global(), LinkLayer::Infiniband);
        assert_eq!(g.to_wire(), global());
        assert_eq!(g.grh.map(|g| g.flow_label), Some(0xabcde));
    }

    #[test]
    fn roce_drops_the_lrh_fields() {
        let av = AddressVector::from_wire(&global(), LinkLayer::Ethernet);
        assert_eq!(av.link, LinkAddress::Roce);
        let w = av.to_wire();
        assert_eq!((w.dlid, w.src_path_bits), (0, 0));
        // Everything else goes through.
        assert_eq!(
            w,
            AhAttr {
                dlid: 0,
                src_path_bits: 0,
                ..global()
            }
        );
    }

    #[test]
    fn without_a_grh_the_route_fields_are_zero() {
        let a = AhAttr {
            is_global: false,
            ..global()
        };
        let w = AddressVector::from_wire(&a, LinkLayer::Infiniband).to_wire();
        assert_eq!(w, lrh_only());
    }

    #[test]
    fn the_guests_port_must_be_the_devices() {
        let asked = core::cell::Cell::new(0u8);
        let info = |p: u8| -> Result<PortInfo, E> {
            asked.set(p);
            Ok(IB)
        };
        for port in [0u8, 3, 255] {
            let a = AhAttr {
                port_num: port,
                ..lrh_only()
            };
            assert_eq!(
                AddressVector::from_guest(&a, 2, info),
                Err(E::Av(AvError::BadPort(port)))
            );
            assert_eq!(AvError::BadPort(port).errno(), EINVAL);
            assert_eq!(
                std::format!("{}", AvError::BadPort(port)),
                std::format!("port {port} is not the device's")
            );
        }
        // An invalid port is never looked up.
        assert_eq!(asked.get(), 0);
        let av = AddressVector::from_guest(&lrh_only(), 2, info);
        assert_eq!(asked.get(), 2);
        assert_eq!(av.map(|v| v.to_wire()), Ok(lrh_only()));
    }

    #[test]
    fn a_port_lookup_error_is_passed_on() {
        assert_eq!(
            AddressVector::from_guest(&lrh_only(), 2, |_| Err(E::Lookup(-19))),
            Err(E::Lookup(-19))
        );
    }

    #[test]
    fn roce_needs_a_grh_and_ignores_dlid_and_path_bits() {
        assert_eq!(
            guest(&lrh_only(), 2, ROCE),
            Err(E::Av(AvError::RoceWithoutGrh))
        );
        // A guest's dlid and path bits on RoCE reach nothing: dropped.
        let a = AhAttr {
            dlid: 0xffff,
            src_path_bits: 0x7f,
            ..global()
        };
        let av = guest(&a, 2, ROCE);
        assert_eq!(
            av.map(|v| v.to_wire()),
            Ok(AhAttr {
                dlid: 0,
                src_path_bits: 0,
                ..global()
            })
        );
    }

    #[test]
    fn ib_path_bits_stay_within_the_lmc() {
        let with_bits = |src_path_bits| AhAttr {
            src_path_bits,
            ..lrh_only()
        };
        // LMC 2: four LIDs, path bits 0 to 3.
        let refused = |src_path_bits, lmc| {
            Err(E::Av(AvError::PathBits {
                src_path_bits,
                lmc,
            }))
        };
        for ok in 0..4 {
            let av = guest(&with_bits(ok), 2, IB);
            assert_eq!(av.map(|v| v.to_wire()), Ok(with_bits(ok)));
        }
        assert_eq!(guest(&with_bits(4), 2, IB), refused(4, 2));
        assert_eq!(
            std::format!("{}", AvError::PathBits { src_path_bits: 4, lmc: 2 }),
            "source path bits 0x4 beyond the port's LMC 2"
        );
        let lmc0 = PortInfo { lmc: 0, ..IB };
        assert!(guest(&with_bits(0), 2, lmc0).is_ok());
        assert_eq!(guest(&with_bits(1), 2, lmc0), refused(1, 0));
        // LMC is 3 bits (at most 7): 128 LIDs, path bits up to 0x7f.
        let lmc7 = PortInfo { lmc: 7, ..IB };
        assert!(guest(&with_bits(0x7f), 2, lmc7).is_ok());
        assert_eq!(guest(&with_bits(0x80), 2, lmc7), refused(0x80, 7));
        // A bogus LMC from the device bounds nothing beyond 7 bits.
        let bogus = PortInfo { lmc: 200, ..IB };
        assert_eq!(guest(&with_bits(0x80), 2, bogus), refused(0x80, 200));
    }

    fn qp_attr(port: u8, dest: u8, alt: u8, alt_dest: u8) -> QpAttr {
        QpAttr {
            port_num: port,
            alt_port_num: alt,
            dest: AhAttr {
                port_num: dest,
                ..Default::default()
            },
            alt_dest: AhAttr {
                port_num: alt_dest,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn qp_ports_are_checked_where_the_mask_selects_them() {
        use qp_mask::*;
        // Nothing selected: nothing checked (the fields are zero then).
        assert_eq!(check_qp_ports(0, &qp_attr(0, 0, 0, 0), 2), Ok(()));
        assert_eq!(check_qp_ports(PORT, &qp_attr(2, 0, 0, 0), 2), Ok(()));
        assert_eq!(check_qp_ports(PORT, &qp_attr(3, 0, 0, 0), 2), Err(AvError::BadPort(3)));
        assert_eq!(check_qp_ports(PORT, &qp_attr(0, 0, 0, 0), 2), Err(AvError::BadPort(0)));
        assert_eq!(check_qp_ports(AV, &qp_attr(0, 1, 0, 0), 2), Ok(()));
        assert_eq!(check_qp_ports(AV, &qp_attr(0, 9, 0, 0), 2), Err(AvError::BadPort(9)));
        let alt = ALT_PATH;
        assert_eq!(check_qp_ports(alt, &qp_attr(0, 0, 2, 2), 2), Ok(()));
        assert_eq!(check_qp_ports(alt, &qp_attr(0, 0, 3, 2), 2), Err(AvError::BadPort(3)));
        assert_eq!(check_qp_ports(alt, &qp_attr(0, 0, 2, 3), 2), Err(AvError::BadPort(3)));
        assert_eq!(
            check_qp_ports(PORT | AV | alt, &qp_attr(1, 2, 1, 2), 2),
            Ok(())
        );
        assert_eq!(
            check_qp_ports(PORT | AV | alt, &qp_attr(1, 2, 1, 255), 2),
            Err(AvError::BadPort(255))
        );
    }
}
