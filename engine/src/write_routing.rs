//! Which of a write's parallel table writers receives each piece of the rows.
//!
//! Every writer keeps one open file per table partition it has seen, and each open file
//! holds encoders, dictionaries and a row group in progress within the writer's share of
//! the write buffer. Dealing batches out in turn would open every partition in every
//! writer: twice the files, each with half the buffer, so row groups half as large. A
//! partition therefore stays with one writer, the least loaded when it first appeared.
//!
//! A piece that is more than a writer's share of its batch (an unpartitioned table, or a
//! load that goes mostly to one partition) is dealt out in turn instead, so that all
//! writers keep working; this starts only once the write is large enough to be worth it,
//! so that small and medium writes still make one file per partition.

use std::collections::HashMap;

use iceberg::spec::Struct;

/// Inputs up to this many rows deal their large pieces all to one writer; beyond it they
/// are spread over all writers, each encoding and compressing on its own core.
const PARALLEL_WRITE_MIN_ROWS: usize = 1 << 18;

pub struct Router {
    /// The writer each partition seen so far belongs to.
    owners: HashMap<Struct, usize>,
    /// The rows each writer has been given.
    rows_given: Vec<usize>,
    /// The writer that gets the next piece dealt in turn.
    next_in_turn: usize,
}

impl Router {
    pub fn new(writers: usize) -> Self {
        Self {
            owners: HashMap::new(),
            rows_given: vec![0; writers.max(1)],
            next_in_turn: 0,
        }
    }

    /// The writer for a piece of `piece_rows` rows of `partition` (`None`: unpartitioned),
    /// cut from a batch of `batch_rows` rows. `has_room` says whether a writer can take
    /// more without waiting; a piece dealt in turn prefers such a writer.
    pub fn writer_for(
        &mut self,
        partition: Option<&Struct>,
        piece_rows: usize,
        batch_rows: usize,
        has_room: impl Fn(usize) -> bool,
    ) -> usize {
        let writers = self.rows_given.len();
        let writer = match partition {
            Some(key) if piece_rows * writers <= batch_rows => self.owner(key),
            _ => self.in_turn(has_room),
        };
        self.rows_given[writer] += piece_rows;
        writer
    }

    fn owner(&mut self, partition: &Struct) -> usize {
        if let Some(&writer) = self.owners.get(partition) {
            return writer;
        }
        let least_loaded = (0..self.rows_given.len())
            .min_by_key(|&writer| self.rows_given[writer])
            .unwrap_or(0);
        self.owners.insert(partition.clone(), least_loaded);
        least_loaded
    }

    fn in_turn(&mut self, has_room: impl Fn(usize) -> bool) -> usize {
        let writers = self.rows_given.len();
        if self.rows_given.iter().sum::<usize>() < PARALLEL_WRITE_MIN_ROWS {
            return 0;
        }
        self.next_in_turn = (self.next_in_turn + 1) % writers;
        // Prefer a writer with room, so that a slower one does not hold the others up.
        let writer = (0..writers)
            .map(|offset| (self.next_in_turn + offset) % writers)
            .find(|&writer| has_room(writer))
            .unwrap_or(self.next_in_turn);
        self.next_in_turn = writer;
        writer
    }
}

#[cfg(test)]
mod tests {
    use iceberg::spec::Literal;

    use super::*;

    fn month(m: i32) -> Struct {
        Struct::from_iter([Some(Literal::int(m))])
    }

    #[test]
    fn a_partition_stays_with_the_writer_it_first_went_to() {
        let mut router = Router::new(2);
        let first: Vec<usize> = (0..4)
            .map(|m| router.writer_for(Some(&month(m)), 100, 400, |_| true))
            .collect();
        assert_eq!(first, vec![0, 1, 0, 1]);
        for _ in 0..10 {
            for m in 0..4 {
                let writer = router.writer_for(Some(&month(m)), 100, 400, |_| true);
                assert_eq!(writer, first[m as usize]);
            }
        }
    }

    #[test]
    fn new_partitions_go_to_the_least_loaded_writer() {
        let mut router = Router::new(2);
        assert_eq!(router.writer_for(Some(&month(0)), 900, 1000, |_| false), 0);
        assert_eq!(router.writer_for(Some(&month(1)), 100, 1000, |_| true), 1);
        assert_eq!(router.writer_for(Some(&month(2)), 100, 1000, |_| true), 1);
    }

    #[test]
    fn large_pieces_stay_on_one_writer_until_the_write_is_large() {
        let mut router = Router::new(2);
        let batch = 8192;
        let mut writers = Vec::new();
        for _ in 0..64 {
            writers.push(router.writer_for(None, batch, batch, |_| true));
        }
        let spread_from = PARALLEL_WRITE_MIN_ROWS / batch;
        assert!(writers[..spread_from].iter().all(|&w| w == 0));
        assert!(writers[spread_from..].contains(&0));
        assert!(writers[spread_from..].contains(&1));
    }

    #[test]
    fn pieces_dealt_in_turn_prefer_a_writer_with_room() {
        let mut router = Router::new(2);
        router.writer_for(
            None,
            PARALLEL_WRITE_MIN_ROWS,
            PARALLEL_WRITE_MIN_ROWS,
            |_| true,
        );
        for _ in 0..5 {
            assert_eq!(router.writer_for(None, 10, 10, |w| w == 1), 1);
        }
    }
}
