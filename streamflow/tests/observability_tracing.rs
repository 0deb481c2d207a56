//! `tracing` spans: a batch span per batch, with the stages' and tasks' spans inside it.

#![cfg(feature = "tracing")]
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use streamflow::Duration;
use streamflow::testing::TestContext;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Records every span: (id, name, parent id, fields as text).
#[derive(Default)]
struct Spans {
    next: AtomicU64,
    spans: Mutex<Vec<(u64, String, Option<u64>, String)>>,
    stack: Mutex<std::collections::HashMap<std::thread::ThreadId, Vec<u64>>>,
}

struct Fields(String);
impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

impl Subscriber for Spans {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let parent = if span.is_root() {
            None
        } else if let Some(p) = span.parent() {
            Some(p.into_u64())
        } else {
            let stack = self.stack.lock().unwrap();
            stack
                .get(&std::thread::current().id())
                .and_then(|s| s.last().copied())
        };
        let mut fields = Fields(String::new());
        span.record(&mut fields);
        self.spans
            .lock()
            .unwrap()
            .push((id, span.metadata().name().to_string(), parent, fields.0));
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, span: &Id) {
        let mut stack = self.stack.lock().unwrap();
        stack
            .entry(std::thread::current().id())
            .or_default()
            .push(span.into_u64());
    }
    fn exit(&self, _: &Id) {
        let mut stack = self.stack.lock().unwrap();
        if let Some(s) = stack.get_mut(&std::thread::current().id()) {
            s.pop();
        }
    }
}

#[test]
fn each_batch_has_a_span_with_its_outputs_stages_and_tasks_inside() {
    let spans: &'static Spans = Box::leak(Box::default());
    tracing::subscriber::set_global_default(SpansRef(spans)).unwrap();
    let t = TestContext::new(Duration::seconds(1), 2).unwrap();
    t.input(vec![vec![1, 2, 3, 4], vec![5]])
        .repartition(2)
        .map(|x| x * 2)
        .foreach_batch(|_, _| {});
    t.run(2).unwrap();
    let all = spans.spans.lock().unwrap().clone();
    let batches: Vec<_> = all.iter().filter(|s| s.1 == "batch").collect();
    assert_eq!(batches.len(), 2, "{all:#?}");
    assert!(
        batches[0].3.contains("job=\"test\" batch_id=0 batch_time=1000"),
        "{all:#?}"
    );
    let parent_of = |id: u64| all.iter().find(|s| s.0 == id).and_then(|s| s.2);
    // Walk up from every task: it sits in a stage, the stage (somewhere) in the first batch.
    let in_batch = |mut id: u64, batch: u64| {
        while let Some(p) = parent_of(id) {
            if p == batch {
                return true;
            }
            id = p;
        }
        false
    };
    let first = batches[0].0;
    for name in ["output", "commit", "stage", "task"] {
        assert!(
            all.iter().any(|s| s.1 == name && in_batch(s.0, first)),
            "no `{name}` span inside the first batch: {all:#?}"
        );
    }
    let task = all
        .iter()
        .find(|s| s.1 == "task" && in_batch(s.0, first))
        .unwrap();
    let stage = all.iter().find(|s| Some(s.0) == task.2).unwrap();
    assert_eq!(stage.1, "stage", "{all:#?}");
    assert!(task.3.contains("partition="), "{all:#?}");
}

/// `set_global_default` takes the subscriber by value; this forwards to the leaked one.
struct SpansRef(&'static Spans);

impl Subscriber for SpansRef {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        self.0.enabled(m)
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        self.0.new_span(span)
    }
    fn record(&self, s: &Id, r: &Record<'_>) {
        self.0.record(s, r)
    }
    fn record_follows_from(&self, a: &Id, b: &Id) {
        self.0.record_follows_from(a, b)
    }
    fn event(&self, e: &Event<'_>) {
        self.0.event(e)
    }
    fn enter(&self, s: &Id) {
        self.0.enter(s)
    }
    fn exit(&self, s: &Id) {
        self.0.exit(s)
    }
}
