//! SQL over a batch (feature `sql`): DataFusion's answers equal the engine's own operators on
//! the same batches, in both vocabularies; results print as the console sink prints; a failing
//! query stops the job naming the operator.

#![cfg(feature = "sql")]
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::sync::{Arc, Mutex};

use streamflow::sql::SqlSession;
use streamflow::structured::{MemoryStream, Session, format_console_batch};
use streamflow::testing::TestContext;
use streamflow::{Duration, Error};

/// Seeded words, `batches` batches of 0..60 words over a small vocabulary.
fn word_batches(seed: u64, batches: usize) -> Vec<Vec<String>> {
    let mut state = seed;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    (0..batches)
        .map(|_| {
            let len = next(60);
            (0..len).map(|_| format!("w{}", next(12))).collect()
        })
        .collect()
}

fn sorted<T: Ord + Clone>(mut rows: Vec<T>) -> Vec<T> {
    rows.sort();
    rows
}

#[test]
fn transform_sql_word_counts_equal_reduce_by_key_on_the_same_batches() {
    let input = word_batches(0x5eed, 8);
    let t = TestContext::new(Duration::seconds(1), 3).unwrap();
    let words = t.input(input.clone());
    let by_sql = words.transform_sql::<(String, i64)>(
        "words",
        "select value as word, count(*) as total from words group by value",
    );
    let by_engine = words.map(|w| (w, 1_i64)).reduce_by_key(|a, b| a + b);
    let (sql_out, engine_out) = (t.collect(&by_sql), t.collect(&by_engine));
    t.run(input.len()).unwrap();
    let (sql_out, engine_out) = (sql_out.batches(), engine_out.batches());
    assert_eq!(sql_out.len(), input.len());
    assert!(
        engine_out.iter().any(|b| b.len() > 3),
        "the input makes real batches"
    );
    for (sql, engine) in sql_out.into_iter().zip(engine_out) {
        assert_eq!(sorted(sql), sorted(engine));
    }
}

#[test]
fn foreach_batch_with_a_session_answers_as_the_engine_does() {
    // The seeds' program: foreachRDD → toDF("word") → temp view → spark.sql(...).
    let input = word_batches(7, 5);
    let t = TestContext::new(Duration::seconds(1), 2).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let words = t.input(input.clone());
    words.foreach_batch(move |batch, _time| -> streamflow::Result<()> {
        let spark = SqlSession::get_or_create()?;
        let empty = batch.with_partitions::<String>(Vec::new());
        let parts = batch.collect_partitions();
        let engine = sorted(empty.with_partitions(parts.clone()).count_by_value().collect());
        spark
            .create_data_frame(&parts.concat())?
            .to_df(&["word"])?
            .create_or_replace_temp_view("words")?;
        let rows = spark
            .sql("select word, count(*) as total from words group by word")?
            .collect_as::<(String, u64)>()?;
        sink.lock().unwrap().push((sorted(rows), engine));
        Ok(())
    });
    t.run(input.len()).unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), input.len());
    for (sql, engine) in seen.iter() {
        assert_eq!(sql, engine);
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Sale {
    shop: String,
    amount: i64,
    discount: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, PartialOrd, serde::Deserialize)]
struct Total {
    shop: String,
    total: i64,
    sales: i64,
    avg_discount: Option<f64>,
}

#[test]
fn a_query_transform_sql_equals_the_batch_aggregated_by_hand_per_micro_batch() {
    let session = Session::new(2).unwrap();
    let input = MemoryStream::new();
    let query = session
        .read_stream::<Sale>()
        .memory(&input)
        .transform_sql::<Total>(
            "sales",
            "select shop, sum(amount) as total, count(*) as sales, avg(discount) as avg_discount \
             from sales group by shop",
        )
        .write_stream()
        .memory("totals")
        .start()
        .unwrap();
    let batches: Vec<Vec<Sale>> = (0..4)
        .map(|b| {
            (0..10 + b * 3)
                .map(|i| Sale {
                    shop: format!("s{}", (i * 7 + b) % 4),
                    amount: (i * 13 + b) as i64 % 50,
                    discount: (i % 3 != 0).then_some(i as f64 / 4.0),
                })
                .collect()
        })
        .collect();
    let mut expected = Vec::new();
    for batch in &batches {
        input.add_data(batch.clone());
        query.process_all_available().unwrap();
        let mut shops: Vec<&String> = batch.iter().map(|s| &s.shop).collect();
        shops.sort();
        shops.dedup();
        for shop in shops {
            let rows: Vec<&Sale> = batch.iter().filter(|s| &s.shop == shop).collect();
            let discounts: Vec<f64> = rows.iter().filter_map(|s| s.discount).collect();
            expected.push(Total {
                shop: shop.clone(),
                total: rows.iter().map(|s| s.amount).sum(),
                sales: rows.len() as i64,
                avg_discount: (!discounts.is_empty())
                    .then(|| discounts.iter().sum::<f64>() / discounts.len() as f64),
            });
        }
    }
    let mut got = session.memory_table::<Total>("totals").unwrap().rows();
    query.stop().unwrap();
    let by = |a: &Total, b: &Total| a.partial_cmp(b).unwrap();
    got.sort_by(by);
    expected.sort_by(by);
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!((&g.shop, g.total, g.sales), (&e.shop, e.total, e.sales));
        match (g.avg_discount, e.avg_discount) {
            (Some(a), Some(b)) => assert!((a - b).abs() < 1e-9, "{g:?} vs {e:?}"),
            (a, b) => assert_eq!(a, b),
        }
    }
}

#[test]
fn show_prints_the_console_sinks_table() {
    let spark = SqlSession::new().unwrap();
    let rows = vec![
        ("apple".to_string(), 3_i64),
        ("a word longer than twenty characters".to_string(), 1),
    ];
    spark
        .create_data_frame(&rows)
        .unwrap()
        .create_or_replace_temp_view("t")
        .unwrap();
    let shown = spark
        .sql("select _1, _2 from t order by _2 desc")
        .unwrap()
        .show_string(20, true)
        .unwrap();
    let console = format_console_batch(0, &rows, 20, true).unwrap();
    let table = console
        .split_once("Batch: 0\n-------------------------------------------\n")
        .unwrap()
        .1;
    assert_eq!(format!("{shown}\n"), table);
    assert!(shown.contains("|a word longer tha...|  1|"), "{shown}");
}

#[test]
fn a_failing_query_stops_the_job_naming_transform_sql() {
    let t = TestContext::new(Duration::seconds(1), 1).unwrap();
    let out = t
        .input(vec![vec!["a".to_string()]])
        .transform_sql::<(String,)>("words", "select no_such_column from words");
    let _collected = t.collect(&out);
    let err = t.run(1).unwrap_err();
    match &err {
        Error::UserCode {
            operator, message, ..
        } => {
            assert_eq!(operator, "transform_sql");
            assert!(message.contains("no_such_column"), "{message}");
        }
        other => panic!("expected a user-code error, got {other}"),
    }
}

#[test]
fn rows_of_the_wrong_type_are_an_error_not_a_panic() {
    let spark = SqlSession::new().unwrap();
    let err = spark
        .sql("select 'x' as word")
        .unwrap()
        .collect_as::<(i64,)>()
        .unwrap_err();
    assert!(matches!(err, Error::Sql { .. }), "{err}");
    let err = spark
        .create_data_frame(&[1_i64])
        .unwrap()
        .to_df(&["a", "b"])
        .unwrap_err();
    assert!(err.to_string().contains("2 names for 1 columns"), "{err}");
}
