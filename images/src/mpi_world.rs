// SPDX-License-Identifier: GPL-2.0
//! [`Collective`] over MPI's world communicator (rsmpi, the system's Open
//! MPI), for `fetch` launched with one rank per node by `srun --mpi=pmix`
//! or `mpirun`.
//!
//! Open MPI 4.1's default broadcast for large messages is linear or an
//! unsegmented tree (store and forward), which makes the time grow with the
//! node count. [`choose_broadcast`] selects its segmented pipeline (a chain
//! through the ranks, each forwarding a segment while receiving the next)
//! before MPI starts, unless the launcher already chose.

use crate::collective::Collective;
use mpi::collective::SystemOperation;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};

/// How `fetch` asks Open MPI to broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broadcast {
    /// Segmented pipeline (coll_tuned algorithm 3) with this segment size.
    Pipeline { segment: usize },
    /// The paper's whole-file binomial tree (algorithm 6, no segments); for comparison.
    BinomialWhole,
    /// Whatever Open MPI decides.
    Default,
}

/// Sets Open MPI's tuned-collective parameters for this process. Must run
/// before [`MpiWorld::init`] and before any thread starts; a value the
/// environment already sets wins.
pub fn choose_broadcast(broadcast: Broadcast) {
    let (algorithm, segment) = match broadcast {
        Broadcast::Pipeline { segment } => ("3", segment.to_string()),
        Broadcast::BinomialWhole => ("6", "0".to_string()),
        Broadcast::Default => return,
    };
    for (name, value) in [
        ("OMPI_MCA_coll_tuned_use_dynamic_rules", "1"),
        ("OMPI_MCA_coll_tuned_bcast_algorithm", algorithm),
        (
            "OMPI_MCA_coll_tuned_bcast_algorithm_segmentsize",
            segment.as_str(),
        ),
    ] {
        if std::env::var_os(name).is_none() {
            std::env::set_var(name, value);
        }
    }
}

/// The MPI world; finalised when dropped.
pub struct MpiWorld {
    universe: mpi::environment::Universe,
}

impl MpiWorld {
    pub fn init() -> Option<MpiWorld> {
        mpi::initialize().map(|universe| MpiWorld { universe })
    }
}

impl Collective for MpiWorld {
    fn rank(&self) -> usize {
        self.universe.world().rank() as usize
    }

    fn size(&self) -> usize {
        self.universe.world().size() as usize
    }

    fn allreduce_or(&self, bits: &mut [u8]) {
        let local = bits.to_vec();
        self.universe
            .world()
            .all_reduce_into(&local[..], bits, SystemOperation::bitwise_or());
    }

    fn broadcast(&self, buf: &mut [u8]) {
        self.universe.world().process_at_rank(0).broadcast_into(buf);
    }

    fn allreduce_sum(&self, value: u64) -> u64 {
        let mut sum = 0u64;
        self.universe
            .world()
            .all_reduce_into(&value, &mut sum, SystemOperation::sum());
        sum
    }
}
