// SPDX-License-Identifier: GPL-2.0
//! The rdma_cm user ABI (`include/uapi/rdma/rdma_user_cm.h`, version 4) as
//! the two ends of the ring see it: the layout of each command, and the
//! policy the backend applies to a guest's commands before they reach
//! dom0's `rdma_cm`.
//!
//! A guest's `/dev/infiniband/rdma_cm` commands are executed by a ucma
//! file of dom0 (`CmCmd`). Every command is copied out of the slot once,
//! then checked and rewritten here ([`check_command`]):
//!
//! - a guest binds, resolves from and listens on its own addresses only;
//!   the wildcard becomes its own address of that family;
//! - AF_IB, IB port spaces and IB path options are refused;
//! - what needs the backend's state (the id must be bound before a
//!   listen, the QP number must be the guest's, the source file of a
//!   migration must be the guest's) comes back as an [`Action`].
//!
//! Responses and events carry dom0's GID indices and device index; the
//! front maps those to its own ([`sgid_index_offsets`], [`ibdev_index_offset`]).

use super::msg::Gid;

/// `RDMA_USER_CM_ABI_VERSION`.
pub const ABI_VERSION: u32 = 4;

/// `rdma_ucm_cmd_hdr`: `u32 cmd`, `u16 in`, `u16 out` (bytes).
pub const HDR_LEN: usize = 8;
/// Largest command a guest may send (`rdma_ucm_accept`), with room for a
/// `SET_OPTION` value after its 24 bytes.
pub const MAX_IN: usize = 296;
/// Largest response carried back (a `QUERY` path response with four
/// paths, `8 + 4 * 72` bytes, is 296; an event is 336).
pub const MAX_OUT: usize = 336;
/// `struct rdma_ucm_event_resp`.
pub const EVENT_LEN: usize = 336;
/// Largest `SET_OPTION` value (every `RDMA_OPTION_ID_*` is an int or a byte).
pub const MAX_OPTLEN: usize = 8;

/// `RDMA_USER_CM_CMD_*`.
#[allow(missing_docs)]
pub mod cmd {
    pub const CREATE_ID: u32 = 0;
    pub const DESTROY_ID: u32 = 1;
    pub const BIND_IP: u32 = 2;
    pub const RESOLVE_IP: u32 = 3;
    pub const RESOLVE_ROUTE: u32 = 4;
    pub const QUERY_ROUTE: u32 = 5;
    pub const CONNECT: u32 = 6;
    pub const LISTEN: u32 = 7;
    pub const ACCEPT: u32 = 8;
    pub const REJECT: u32 = 9;
    pub const DISCONNECT: u32 = 10;
    pub const INIT_QP_ATTR: u32 = 11;
    pub const GET_EVENT: u32 = 12;
    pub const GET_OPTION: u32 = 13;
    pub const SET_OPTION: u32 = 14;
    pub const NOTIFY: u32 = 15;
    pub const JOIN_IP_MCAST: u32 = 16;
    pub const LEAVE_MCAST: u32 = 17;
    pub const MIGRATE_ID: u32 = 18;
    pub const QUERY: u32 = 19;
    pub const BIND: u32 = 20;
    pub const RESOLVE_ADDR: u32 = 21;
    pub const JOIN_MCAST: u32 = 22;
}

/// `RDMA_CM_EVENT_*` whose body carries an address handle (`param.ud`).
pub mod event {
    /// `RDMA_CM_EVENT_ESTABLISHED`.
    pub const ESTABLISHED: u32 = 9;
    /// `RDMA_CM_EVENT_MULTICAST_JOIN`.
    pub const MULTICAST_JOIN: u32 = 12;
    /// `RDMA_CM_EVENT_CONNECT_REQUEST`.
    pub const CONNECT_REQUEST: u32 = 4;
}

/// `RDMA_USER_CM_QUERY_*`.
pub mod query {
    /// Addresses.
    pub const ADDR: u32 = 0;
    /// Path records.
    pub const PATH: u32 = 1;
    /// GIDs.
    pub const GID: u32 = 2;
}

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const PS_TCP: u16 = 0x0106;
const PS_UDP: u16 = 0x0111;
const OPTION_ID: u32 = 0;

/// The layout of one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CmdInfo {
    /// Bytes of the command structure.
    pub in_len: usize,
    /// Offset of its `response` pointer, if it has a response.
    pub response_at: Option<usize>,
    /// Most response bytes dom0 may write (and we carry back).
    pub out_len: usize,
}

const fn info(in_len: usize, response_at: Option<usize>, out_len: usize) -> Option<CmdInfo> {
    Some(CmdInfo {
        in_len,
        response_at,
        out_len,
    })
}

/// The layout of command `c`; `None` for those a guest may not send
/// (unknown, `GET_OPTION`, which 6.12 does not implement, and
/// `GET_EVENT`, which the front answers from its own queue).
pub const fn command_info(c: u32) -> Option<CmdInfo> {
    match c {
        cmd::CREATE_ID => info(24, Some(8), 4),
        cmd::DESTROY_ID => info(16, Some(0), 4),
        cmd::BIND_IP => info(40, None, 0),
        cmd::RESOLVE_IP => info(64, None, 0),
        cmd::RESOLVE_ROUTE => info(8, None, 0),
        // `rdma_ucm_query` in, `rdma_ucm_query_route_resp` out.
        cmd::QUERY_ROUTE => info(16, Some(0), 208),
        cmd::CONNECT => info(288, None, 0),
        cmd::LISTEN => info(8, None, 0),
        cmd::ACCEPT => info(296, None, 0),
        cmd::REJECT => info(264, None, 0),
        cmd::DISCONNECT => info(4, None, 0),
        // `struct ib_uverbs_qp_attr`.
        cmd::INIT_QP_ATTR => info(16, Some(0), 144),
        cmd::SET_OPTION => info(24, None, 0),
        cmd::NOTIFY => info(8, None, 0),
        cmd::JOIN_IP_MCAST => info(48, Some(0), 4),
        cmd::LEAVE_MCAST => info(16, Some(0), 4),
        cmd::MIGRATE_ID => info(16, Some(0), 4),
        // Addresses or GIDs (280 bytes), or paths (8 + 72 each).
        cmd::QUERY => info(16, Some(0), 296),
        cmd::BIND => info(136, None, 0),
        cmd::RESOLVE_ADDR => info(272, None, 0),
        cmd::JOIN_MCAST => info(152, Some(0), 4),
        _ => None,
    }
}

/// Why a command is refused; each maps to the errno the guest sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a command we forward (`ENOSYS`).
    Unknown,
    /// Shorter than its structure, or a malformed field (`EINVAL`).
    Malformed,
    /// An address that is not the guest's (`EADDRNOTAVAIL`).
    NotOwnAddress,
    /// AF_IB or another family we do not carry (`EAFNOSUPPORT`).
    Family,
    /// A port space other than TCP and UDP (`EPROTONOSUPPORT`).
    PortSpace,
    /// An option other than the id-level ones (`EPERM`).
    Option,
    /// A multicast join to a unicast address (`EINVAL`).
    NotMulticast,
}

impl Refusal {
    /// The errno (positive).
    pub fn errno(self) -> i32 {
        use super::codec::errno::*;
        match self {
            Refusal::Unknown => ENOSYS,
            Refusal::Malformed | Refusal::NotMulticast => EINVAL,
            Refusal::NotOwnAddress => EADDRNOTAVAIL,
            Refusal::Family => EAFNOSUPPORT,
            Refusal::PortSpace => EPROTONOSUPPORT,
            Refusal::Option => EPERM,
        }
    }
}

/// What the backend must do besides writing the (checked) command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    None,
    /// `LISTEN` on id `id`: if it is not bound yet, bind it to the
    /// guest's address (`own`, a `sockaddr` of [`SOCKADDR_LEN`] bytes)
    /// first, so that it never listens on the wildcard.
    EnsureBound {
        /// The id.
        id: u32,
    },
    /// `CONNECT`/`ACCEPT` advertise QP `qpn`: it must be the guest's.
    OwnQp {
        /// The QP number.
        qpn: u32,
    },
    /// `MIGRATE_ID` from the guest's cm file `file` (the front put its
    /// handle where the descriptor goes, at `fd_at`): the backend puts
    /// its own descriptor for that file there.
    Migrate {
        /// The source file, as the guest's context handle.
        file: u32,
    },
}

/// Offset of `MIGRATE_ID`'s `fd`.
pub const MIGRATE_FD_AT: usize = 12;
/// Offset of `SET_OPTION`'s `optval` pointer; its `optlen` is at 20, and
/// the front puts the value itself right after the structure.
pub const OPTVAL_AT: usize = 0;
/// Bytes of `struct sockaddr_in6`, as `BIND_IP` and `RESOLVE_IP` carry it.
pub const SOCKADDR_LEN: usize = 28;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The address of an IPv4 or IPv6 `sockaddr` as a GID (IPv4-mapped).
fn sockaddr_gid(sa: &[u8]) -> Result<(u16, Gid), Refusal> {
    let mut gid = [0u8; 16];
    match u16_at(sa, 0).ok_or(Refusal::Malformed)? {
        AF_INET => {
            gid[10] = 0xff;
            gid[11] = 0xff;
            gid[12..].copy_from_slice(sa.get(4..8).ok_or(Refusal::Malformed)?);
            Ok((AF_INET, gid))
        }
        AF_INET6 => {
            gid.copy_from_slice(sa.get(8..24).ok_or(Refusal::Malformed)?);
            Ok((AF_INET6, gid))
        }
        _ => Err(Refusal::Family),
    }
}

fn is_ipv4_mapped(g: &Gid) -> bool {
    g[..10] == [0; 10] && g[10..12] == [0xff, 0xff]
}

/// The wildcard of either family (also `::ffff:0.0.0.0`).
fn is_any(family: u16, g: &Gid) -> bool {
    match family {
        AF_INET => g[12..] == [0; 4],
        _ => *g == [0; 16] || (is_ipv4_mapped(g) && g[12..] == [0; 4]),
    }
}

/// A loopback address (`127.0.0.0/8`, `::1`): rdma_cm's "this host",
/// which for a guest is its own address.
fn is_loopback(family: u16, g: &Gid) -> bool {
    match family {
        AF_INET => g[12] == 127,
        _ => {
            *g == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
                || (is_ipv4_mapped(g) && g[12] == 127)
        }
    }
}

/// The guest's first address of `family` (`AF_INET6` falls back to an
/// IPv4 one: a v6 wildcard bind is dual-stack).
fn own_of_family(own: &[Gid], family: u16) -> Option<(u16, Gid)> {
    let v4 = own
        .iter()
        .find(|g| is_ipv4_mapped(g))
        .map(|g| (AF_INET, *g));
    let v6 = own
        .iter()
        .find(|g| !is_ipv4_mapped(g))
        .map(|g| (AF_INET6, *g));
    match family {
        AF_INET => v4,
        _ => v6.or(v4),
    }
}

/// Writes `gid` as a `sockaddr` of `family` with `port` (big-endian, as
/// found) over `sa`, zeroing the rest; returns its length.
fn put_sockaddr(sa: &mut [u8], family: u16, gid: &Gid, port: [u8; 2]) -> Result<usize, Refusal> {
    let len = if family == AF_INET { 16 } else { SOCKADDR_LEN };
    if sa.len() < SOCKADDR_LEN {
        return Err(Refusal::Malformed);
    }
    sa.fill(0);
    sa[..2].copy_from_slice(&family.to_ne_bytes());
    sa[2..4].copy_from_slice(&port);
    if family == AF_INET {
        sa[4..8].copy_from_slice(&gid[12..]);
    } else {
        sa[8..24].copy_from_slice(gid);
    }
    Ok(len)
}

/// A local address (bind, or a resolve's source): the guest's own stays,
/// the wildcard and loopback (or, for a source, nothing at all: `family`
/// 0) become the guest's own of that family (`hint` when unspecified),
/// anything else is refused. Returns the new length if rewritten.
fn local_address(
    sa: &mut [u8],
    own: &[Gid],
    hint: u16,
    may_be_unset: bool,
) -> Result<Option<usize>, Refusal> {
    let family = u16_at(sa, 0).ok_or(Refusal::Malformed)?;
    let port = [
        sa.get(2).copied().unwrap_or(0),
        sa.get(3).copied().unwrap_or(0),
    ];
    let (family, any) = if family == 0 && may_be_unset {
        (hint, true)
    } else {
        let (f, g) = sockaddr_gid(sa)?;
        if !is_any(f, &g) && !is_loopback(f, &g) {
            return if own.contains(&g) {
                Ok(None)
            } else {
                Err(Refusal::NotOwnAddress)
            };
        }
        (f, true)
    };
    debug_assert!(any);
    let (f, g) = own_of_family(own, family).ok_or(Refusal::NotOwnAddress)?;
    put_sockaddr(sa, f, &g, port).map(Some)
}

/// A destination: IPv4 or IPv6, any address; loopback (this host) is the
/// guest itself. Returns its family and, if rewritten, its new length.
fn remote_address(sa: &mut [u8], own: &[Gid]) -> Result<(u16, Option<usize>), Refusal> {
    let (f, g) = sockaddr_gid(sa)?;
    if !is_loopback(f, &g) {
        return Ok((f, None));
    }
    let port = [sa[2], sa[3]];
    let (f, g) = own_of_family(own, f).ok_or(Refusal::NotOwnAddress)?;
    Ok((f, Some(put_sockaddr(sa, f, &g, port)?)))
}

fn multicast(sa: &[u8]) -> Result<(), Refusal> {
    let (f, g) = sockaddr_gid(sa)?;
    let yes = match f {
        AF_INET => g[12] & 0xf0 == 0xe0,
        _ => g[0] == 0xff,
    };
    if yes {
        Ok(())
    } else {
        Err(Refusal::NotMulticast)
    }
}

fn set_u16(b: &mut [u8], at: usize, v: u16) -> Result<(), Refusal> {
    b.get_mut(at..at + 2)
        .ok_or(Refusal::Malformed)?
        .copy_from_slice(&v.to_ne_bytes());
    Ok(())
}

/// Checks a guest's command `c` (its structure in `data`, which is at
/// least [`CmdInfo::in_len`] bytes, plus a `SET_OPTION` value after it)
/// against the guest's addresses `own`, rewriting what must be; what the
/// backend must still do comes back as an [`Action`].
pub fn check_command(c: u32, data: &mut [u8], own: &[Gid]) -> Result<Action, Refusal> {
    let info = command_info(c).ok_or(Refusal::Unknown)?;
    if data.len() < info.in_len {
        return Err(Refusal::Malformed);
    }
    match c {
        cmd::CREATE_ID => match u16_at(data, 16).ok_or(Refusal::Malformed)? {
            PS_TCP | PS_UDP => Ok(Action::None),
            _ => Err(Refusal::PortSpace),
        },
        cmd::BIND_IP => {
            local_address(&mut data[8..8 + SOCKADDR_LEN], own, AF_INET, false)?;
            Ok(Action::None)
        }
        cmd::BIND => {
            // `u32 id, u16 addr_size, u16 reserved, sockaddr_storage addr`.
            if let Some(len) = local_address(&mut data[8..136], own, AF_INET, false)? {
                set_u16(data, 4, len as u16)?;
            }
            Ok(Action::None)
        }
        cmd::RESOLVE_IP => {
            let (family, _) = remote_address(&mut data[28..56], own)?;
            local_address(&mut data[..SOCKADDR_LEN], own, family, true)?;
            Ok(Action::None)
        }
        cmd::RESOLVE_ADDR => {
            // `u32 id, u32 timeout, u16 src_size, u16 dst_size, u32, src, dst`.
            let (family, dst_len) = remote_address(&mut data[144..272], own)?;
            if let Some(len) = dst_len {
                set_u16(data, 10, len as u16)?;
            }
            if let Some(len) = local_address(&mut data[16..144], own, family, true)? {
                set_u16(data, 8, len as u16)?;
            }
            Ok(Action::None)
        }
        cmd::LISTEN => Ok(Action::EnsureBound {
            id: u32_at(data, 0).ok_or(Refusal::Malformed)?,
        }),
        cmd::CONNECT => Ok(Action::OwnQp {
            qpn: u32_at(data, 0).ok_or(Refusal::Malformed)?,
        }),
        // `u64 uid`, then `rdma_ucm_conn_param` (whose last byte is
        // `valid`: without it the accept names no QP).
        cmd::ACCEPT if data[8 + 271] != 0 => Ok(Action::OwnQp {
            qpn: u32_at(data, 8).ok_or(Refusal::Malformed)?,
        }),
        cmd::SET_OPTION => {
            let level = u32_at(data, 12).ok_or(Refusal::Malformed)?;
            let optlen = u32_at(data, 20).ok_or(Refusal::Malformed)? as usize;
            if level != OPTION_ID {
                return Err(Refusal::Option);
            }
            if optlen > MAX_OPTLEN || data.len() < info.in_len + optlen {
                return Err(Refusal::Malformed);
            }
            Ok(Action::None)
        }
        cmd::JOIN_IP_MCAST => multicast(&data[16..16 + SOCKADDR_LEN]).map(|_| Action::None),
        cmd::JOIN_MCAST => multicast(&data[24..152]).map(|_| Action::None),
        cmd::MIGRATE_ID => Ok(Action::Migrate {
            file: u32_at(data, MIGRATE_FD_AT).ok_or(Refusal::Malformed)?,
        }),
        _ => Ok(Action::None),
    }
}

/// Whether the `QUERY_ADDR` response `resp` shows a bound id (a source
/// address that is not the wildcard).
pub fn query_addr_bound(resp: &[u8]) -> bool {
    // `u64 node_guid, u8 port, u8, u16 pkey, u16 src_size, u16 dst_size, src`.
    resp.get(16..144)
        .and_then(|sa| sockaddr_gid(sa).ok())
        .is_some_and(|(f, g)| !is_any(f, &g))
}

/// A `BIND_IP` command body binding `id` to the guest's first address.
pub fn bind_own(id: u32, own: &[Gid]) -> Option<[u8; 40]> {
    let mut b = [0u8; 40];
    let (f, g) = own_of_family(own, AF_INET)?;
    put_sockaddr(&mut b[8..36], f, &g, [0, 0]).ok()?;
    b[36..40].copy_from_slice(&id.to_ne_bytes());
    Some(b)
}

/// Offsets of the `sgid_index` bytes in a response to `c` (primary and
/// alternate path) or in an event (`c` = `GET_EVENT`) of type `ev`,
/// which name dom0's GID table and so must be mapped to the guest's.
pub fn sgid_index_offsets(c: u32, ev: u32) -> &'static [usize] {
    match (c, ev) {
        // `ib_uverbs_qp_attr`: `ah_attr` at 40, `alt_ah_attr` at 72; in
        // `ib_uverbs_ah_attr` the GRH's `sgid_index` is at 20.
        (cmd::INIT_QP_ATTR, _) => &[60, 92],
        // `rdma_ucm_event_resp.param.ud.ah_attr` at 28.
        (cmd::GET_EVENT, event::ESTABLISHED | event::MULTICAST_JOIN) => &[48],
        _ => &[],
    }
}

/// The path of the `ib_uverbs_ah_attr` whose `sgid_index` is at `at` (an
/// offset from [`sgid_index_offsets`]): whether it has a GRH, and the port
/// it is on, whose GID table the index names. `None` past the end.
pub fn ah_attr_path(b: &[u8], at: usize) -> Option<(bool, u8)> {
    // `sgid_index` is at 20 of the struct, `is_global` at 29, `port_num` at 30.
    Some((*b.get(at + 9)? != 0, *b.get(at + 10)?))
}

/// Offset of `ibdev_index` in the response to `c` (a `QUERY` with
/// `option`), which names dom0's device and must name the guest's.
pub fn ibdev_index_offset(c: u32, option: u32) -> Option<usize> {
    match (c, option) {
        (cmd::QUERY_ROUTE, _) => Some(200),
        (cmd::QUERY, query::ADDR | query::GID) => Some(272),
        _ => None,
    }
}

/// `u32` at `at` of an event or response body.
pub fn field_u32(b: &[u8], at: usize) -> Option<u32> {
    u32_at(b, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: [u8; 4]) -> Gid {
        let mut g = [0u8; 16];
        g[10] = 0xff;
        g[11] = 0xff;
        g[12..].copy_from_slice(&a);
        g
    }

    fn sin(a: [u8; 4], port: u16) -> [u8; SOCKADDR_LEN] {
        let mut s = [0u8; SOCKADDR_LEN];
        s[..2].copy_from_slice(&AF_INET.to_ne_bytes());
        s[2..4].copy_from_slice(&port.to_be_bytes());
        s[4..8].copy_from_slice(&a);
        s
    }

    const OWN: [u8; 4] = [10, 0, 4, 11];
    const OTHER: [u8; 4] = [10, 0, 4, 12];

    fn bind_ip(sa: [u8; SOCKADDR_LEN]) -> [u8; 40] {
        let mut b = [0u8; 40];
        b[8..36].copy_from_slice(&sa);
        b[36..].copy_from_slice(&7u32.to_ne_bytes());
        b
    }

    #[test]
    fn bind_own_wildcard_and_other() {
        let own = [v4(OWN)];
        let mut b = bind_ip(sin(OWN, 7174));
        assert_eq!(check_command(cmd::BIND_IP, &mut b, &own), Ok(Action::None));
        assert_eq!(&b[8..36], &sin(OWN, 7174));

        let mut b = bind_ip(sin([0; 4], 7174));
        assert_eq!(check_command(cmd::BIND_IP, &mut b, &own), Ok(Action::None));
        assert_eq!(
            &b[8..36],
            &sin(OWN, 7174),
            "the wildcard becomes the guest's"
        );

        // Loopback is "this host": the guest's own.
        let mut b = bind_ip(sin([127, 0, 0, 1], 5));
        assert_eq!(check_command(cmd::BIND_IP, &mut b, &own), Ok(Action::None));
        assert_eq!(&b[8..36], &sin(OWN, 5));

        for a in [OTHER, [10, 0, 3, 1], [0, 0, 0, 1]] {
            let mut b = bind_ip(sin(a, 7174));
            assert_eq!(
                check_command(cmd::BIND_IP, &mut b, &own),
                Err(Refusal::NotOwnAddress)
            );
        }
        // A guest with no address binds nothing.
        let mut b = bind_ip(sin([0; 4], 1));
        assert_eq!(
            check_command(cmd::BIND_IP, &mut b, &[]),
            Err(Refusal::NotOwnAddress)
        );
    }

    #[test]
    fn bind_v6_wildcard_becomes_v4_own_and_af_ib_refused() {
        let own = [v4(OWN)];
        let mut b = [0u8; 136];
        b[8..10].copy_from_slice(&AF_INET6.to_ne_bytes());
        b[10..12].copy_from_slice(&99u16.to_be_bytes());
        b[4..6].copy_from_slice(&28u16.to_ne_bytes());
        assert_eq!(check_command(cmd::BIND, &mut b, &own), Ok(Action::None));
        assert_eq!(&b[8..36], &sin(OWN, 99));
        assert_eq!(u16_at(&b, 4), Some(16));

        let mut b = [0u8; 136];
        b[8..10].copy_from_slice(&27u16.to_ne_bytes());
        assert_eq!(check_command(cmd::BIND, &mut b, &own), Err(Refusal::Family));
    }

    #[test]
    fn resolve_source_forced() {
        let own = [v4(OWN)];
        let mut b = [0u8; 64];
        b[28..56].copy_from_slice(&sin(OTHER, 7174));
        assert_eq!(
            check_command(cmd::RESOLVE_IP, &mut b, &own),
            Ok(Action::None)
        );
        assert_eq!(&b[..28], &sin(OWN, 0), "no source: the guest's");
        assert_eq!(&b[28..56], &sin(OTHER, 7174), "destination untouched");

        let mut b = [0u8; 64];
        b[..28].copy_from_slice(&sin([10, 0, 3, 1], 0));
        b[28..56].copy_from_slice(&sin(OTHER, 7174));
        assert_eq!(
            check_command(cmd::RESOLVE_IP, &mut b, &own),
            Err(Refusal::NotOwnAddress)
        );

        let mut b = [0u8; 64];
        b[28..56].copy_from_slice(&sin([127, 0, 0, 1], 9));
        assert_eq!(
            check_command(cmd::RESOLVE_IP, &mut b, &own),
            Ok(Action::None)
        );
        assert_eq!(&b[28..56], &sin(OWN, 9), "loopback: the guest itself");

        let mut b = [0u8; 272];
        b[144..172].copy_from_slice(&sin(OTHER, 1));
        assert_eq!(
            check_command(cmd::RESOLVE_ADDR, &mut b, &own),
            Ok(Action::None)
        );
        assert_eq!(&b[16..44], &sin(OWN, 0));
        assert_eq!(u16_at(&b, 8), Some(16));
    }

    #[test]
    fn actions() {
        let own = [v4(OWN)];
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&5u32.to_ne_bytes());
        assert_eq!(
            check_command(cmd::LISTEN, &mut b, &own),
            Ok(Action::EnsureBound { id: 5 })
        );
        let mut b = [0u8; 288];
        b[..4].copy_from_slice(&0x11u32.to_ne_bytes());
        assert_eq!(
            check_command(cmd::CONNECT, &mut b, &own),
            Ok(Action::OwnQp { qpn: 0x11 })
        );
        let mut b = [0u8; 296];
        b[8..12].copy_from_slice(&0x12u32.to_ne_bytes());
        assert_eq!(
            check_command(cmd::ACCEPT, &mut b, &own),
            Ok(Action::None),
            "no conn_param"
        );
        b[8 + 271] = 1;
        assert_eq!(
            check_command(cmd::ACCEPT, &mut b, &own),
            Ok(Action::OwnQp { qpn: 0x12 })
        );
        let mut b = [0u8; 16];
        b[12..16].copy_from_slice(&3u32.to_ne_bytes());
        assert_eq!(
            check_command(cmd::MIGRATE_ID, &mut b, &own),
            Ok(Action::Migrate { file: 3 })
        );
    }

    #[test]
    fn refusals() {
        let own = [v4(OWN)];
        let mut b = [0u8; 24];
        b[16..18].copy_from_slice(&0x013fu16.to_ne_bytes());
        assert_eq!(
            check_command(cmd::CREATE_ID, &mut b, &own),
            Err(Refusal::PortSpace)
        );
        b[16..18].copy_from_slice(&PS_TCP.to_ne_bytes());
        assert_eq!(
            check_command(cmd::CREATE_ID, &mut b, &own),
            Ok(Action::None)
        );
        let mut b = [0u8; 32];
        b[12..16].copy_from_slice(&1u32.to_ne_bytes());
        assert_eq!(
            check_command(cmd::SET_OPTION, &mut b, &own),
            Err(Refusal::Option)
        );
        b[12..16].fill(0);
        b[20..24].copy_from_slice(&4u32.to_ne_bytes());
        assert_eq!(
            check_command(cmd::SET_OPTION, &mut b, &own),
            Ok(Action::None)
        );
        b[20..24].copy_from_slice(&64u32.to_ne_bytes());
        assert_eq!(
            check_command(cmd::SET_OPTION, &mut b, &own),
            Err(Refusal::Malformed)
        );
        for c in [cmd::GET_EVENT, cmd::GET_OPTION, 23, u32::MAX] {
            assert_eq!(
                check_command(c, &mut [0u8; 512], &own),
                Err(Refusal::Unknown)
            );
        }
        assert_eq!(
            check_command(cmd::ACCEPT, &mut [0u8; 100], &own),
            Err(Refusal::Malformed)
        );
        let mut b = [0u8; 48];
        b[16..44].copy_from_slice(&sin(OTHER, 0));
        assert_eq!(
            check_command(cmd::JOIN_IP_MCAST, &mut b, &own),
            Err(Refusal::NotMulticast)
        );
        b[16..44].copy_from_slice(&sin([239, 1, 2, 3], 0));
        assert_eq!(
            check_command(cmd::JOIN_IP_MCAST, &mut b, &own),
            Ok(Action::None)
        );
    }

    #[test]
    fn bound_and_bind_own() {
        let own = [v4(OWN)];
        let mut resp = [0u8; 280];
        assert!(!query_addr_bound(&resp), "family 0: unbound");
        resp[16..44].copy_from_slice(&sin([0; 4], 0));
        assert!(!query_addr_bound(&resp));
        resp[16..44].copy_from_slice(&sin(OWN, 5));
        assert!(query_addr_bound(&resp));
        let b = bind_own(9, &own).unwrap();
        assert_eq!(&b[8..36], &sin(OWN, 0));
        assert_eq!(u32_at(&b, 36), Some(9));
        assert_eq!(bind_own(9, &[]), None);
    }

    #[test]
    fn every_command_fits_a_slot() {
        for c in 0..32 {
            if let Some(i) = command_info(c) {
                assert!(i.in_len + MAX_OPTLEN <= MAX_IN + MAX_OPTLEN);
                assert!(i.in_len <= MAX_IN && i.out_len <= MAX_OUT, "{c}");
                assert!(i.response_at.is_some() || i.out_len == 0);
            }
        }
    }

    #[test]
    fn ah_attr_path_reads_is_global_and_port() {
        // An INIT_QP_ATTR response: `ah_attr` at 40, a GRH on port 2;
        // `alt_ah_attr` at 72, none, port 0.
        let mut b = [0u8; 104];
        b[40 + 29] = 1;
        b[40 + 30] = 2;
        let [primary, alt] = sgid_index_offsets(cmd::INIT_QP_ATTR, 0) else {
            panic!("two paths")
        };
        assert_eq!(ah_attr_path(&b, *primary), Some((true, 2)));
        assert_eq!(ah_attr_path(&b, *alt), Some((false, 0)));
        assert_eq!(ah_attr_path(&b[..70], *primary), None);
    }
}
