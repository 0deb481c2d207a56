//! Stream–static joins: each record of a stream joined with a static dataset that is loaded
//! once, when the query starts, into a hash table by key; every batch probes it. No state and
//! no shuffle: the join runs inside the stream's fused stage, so it is allowed in every output
//! mode that the rest of the query allows (Spark's stream–static inner and left outer joins).

use std::sync::Arc;

use crate::batch::shuffle::{FastMap, new_map};
use crate::data::{Data, Key};
use crate::event_time::rules;
use crate::exec::guard;
use crate::graph::NodeKind;
use crate::structured::Dataset;
use crate::structured::shape::Shape;

/// The static side: its rows by key.
type Table<K, S> = Arc<FastMap<K, Vec<S>>>;

impl<T: Data, Sh: Shape> Dataset<T, Sh> {
    /// The inner join of this stream with the static rows `rows` (Spark's stream–static
    /// join): each record, paired with every static row of equal key, as `(record, row)`.
    /// The static rows are loaded once, into a table every query started from it shares.
    ///
    /// ```
    /// use streamflow::structured::*;
    ///
    /// let session = Session::builder().parallelism(2).clock(streamflow::ManualClock::new(0)).build()?;
    /// let clicks = MemoryStream::<(u64, String)>::new(); // (ad, user)
    /// let ads = vec![(1_u64, "shoes".to_string()), (2, "hats".to_string())];
    /// let query = session.read_stream::<(u64, String)>().memory(&clicks)
    ///     .join_static(ads, |click| click.0, |ad| ad.0)
    ///     .map(|(click, ad)| (click.1, ad.1))
    ///     .write_stream().memory("clicks_by_ad").start()?;
    /// clicks.add_data([(1, "ann".to_string()), (3, "bob".to_string())]);
    /// query.process_all_available()?;
    /// let rows = session.memory_table::<(String, String)>("clicks_by_ad")?.rows();
    /// assert_eq!(rows, [("ann".to_string(), "shoes".to_string())]);
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn join_static<S: Data, K: Key>(
        &self,
        rows: impl IntoIterator<Item = S>,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
        static_key: impl Fn(&S) -> K,
    ) -> Dataset<(T, S), Sh> {
        let table = load(rows, static_key);
        self.static_join(
            "join_static",
            key,
            move |t, matches: Option<&Vec<S>>| {
                matches
                    .into_iter()
                    .flatten()
                    .map(|s| (t.clone(), s.clone()))
                    .collect()
            },
            table,
        )
    }

    /// The left outer join of this stream with the static rows `rows`: the pairs of
    /// [`join_static`](Self::join_static), and `(record, None)` for a record whose key no static
    /// row has — at once, since the static side never changes.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let clicks = MemoryStream::<u64>::new();
    /// let query = session.read_stream::<u64>().memory(&clicks)
    ///     .left_outer_join_static([(1_u64, "shoes")], |ad| *ad, |row| row.0)
    ///     .map(|(ad, row)| (ad, row.map(|r| r.1.to_string())))
    ///     .write_stream().memory("all_clicks").start()?;
    /// clicks.add_data([1, 2]);
    /// query.process_all_available()?;
    /// let mut rows = session.memory_table::<(u64, Option<String>)>("all_clicks")?.rows();
    /// rows.sort();
    /// assert_eq!(rows, [(1, Some("shoes".to_string())), (2, None)]);
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn left_outer_join_static<S: Data, K: Key>(
        &self,
        rows: impl IntoIterator<Item = S>,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
        static_key: impl Fn(&S) -> K,
    ) -> Dataset<(T, Option<S>), Sh> {
        let table = load(rows, static_key);
        self.static_join(
            "left_outer_join_static",
            key,
            move |t, matches: Option<&Vec<S>>| match matches {
                Some(rows) if !rows.is_empty() => rows.iter().map(|s| (t.clone(), Some(s.clone()))).collect(),
                _ => vec![(t, None)],
            },
            table,
        )
    }

    fn static_join<S: Data, K: Key, U: Data>(
        &self,
        name: &'static str,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
        emit: impl Fn(T, Option<&Vec<S>>) -> Vec<U> + Send + Sync + 'static,
        table: Table<K, S>,
    ) -> Dataset<U, Sh> {
        let mut logical = self.logical.then(name);
        logical.joins.push((
            crate::structured::next_dataset_id(),
            rules::Join {
                operator: format!("{name}(..)"),
                join_type: if name == "join_static" {
                    "Inner"
                } else {
                    "LeftOuter"
                },
                stream_stream: false,
                left_watermarked: self.logical.watermarked,
                right_watermarked: false,
                bounds_left: false,
                bounds_right: false,
            },
        ));
        let (key, emit) = (Arc::new(key), Arc::new(emit));
        let parent = self.clone();
        Dataset::new(self.session.clone(), logical, None, move |p| {
            let node = parent.node(p)?;
            let (key, emit, table) = (key.clone(), emit.clone(), table.clone());
            let meta = node.meta.clone();
            Ok(p.add(name, NodeKind::Stateless, vec![meta], move |time| {
                let (key, emit, table) = (key.clone(), emit.clone(), table.clone());
                Ok(node.get_or_compute(time)?.map(|b| {
                    b.flat_map(move |t| {
                        let k = guard(name, || key(&t));
                        guard(name, || emit(t, table.get(&k)))
                    })
                }))
            }))
        })
    }
}

/// The static rows in a table by key.
fn load<S, K: Key>(rows: impl IntoIterator<Item = S>, key: impl Fn(&S) -> K) -> Table<K, S> {
    let mut table: FastMap<K, Vec<S>> = new_map();
    for row in rows {
        table.entry(key(&row)).or_default().push(row);
    }
    Arc::new(table)
}
