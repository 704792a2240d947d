//! Apache Arrow's Rust Flight client against a running `mallard serve`: the basic-token
//! handshake (and a wrong password), DoGet of a typed query, DoPut of a table in several batches
//! with nulls, DoExchange through `processed`, ListActions and a SQL error. Prints one
//! `key=value` line per finding; tests/integration/service/test_rust_client.py checks them
//! against pyarrow.
//!
//! usage: mallard-rust-flight-client URL PASSWORD TABLE SQL (URL: http://HOST:PORT; SQL: the
//! DoGet query, with the columns i BIGINT, s VARCHAR, d DECIMAL(_, 1), dd DOUBLE, ts TIMESTAMP,
//! n BIGINT with nulls)
use std::sync::Arc;

use arrow_array::{
    Array, BooleanArray, Decimal128Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::{FlightClient, FlightDescriptor, HandshakeRequest, Ticket};
use arrow_schema::{DataType, Field, Schema};
use base64::Engine;
use futures::{StreamExt, TryStreamExt};
use tonic::transport::Channel;

const EPOCH_2024_MICROS: i64 = 1_704_067_200_000_000;

fn out(k: &str, v: impl std::fmt::Display) {
    println!("{k}={v}");
}

async fn login(channel: Channel, user: &str, password: &str) -> Result<String, tonic::Status> {
    let mut raw = FlightServiceClient::new(channel);
    let cred = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut req = tonic::Request::new(futures::stream::iter(vec![HandshakeRequest {
        protocol_version: 0,
        payload: Default::default(),
    }]));
    req.metadata_mut()
        .insert("authorization", format!("Basic {cred}").parse().unwrap());
    let resp = raw.handshake(req).await?;
    let bearer = resp
        .metadata()
        .get("authorization")
        .map(|v| v.to_str().unwrap_or("").to_string())
        .unwrap_or_default();
    let mut body = resp.into_inner();
    while let Some(m) = body.next().await {
        m?;
    }
    Ok(bearer)
}

/// The column `name` of b as its concrete array type (panics when absent or of another type:
/// the test then fails with the message).
fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> &'a T {
    b.column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_any()
        .downcast_ref::<T>()
        .unwrap_or_else(|| panic!("column {name}: unexpected type"))
}

/// "name:type;name:type" in arrow-rs's notation of the types.
fn field_list(b: &RecordBatch) -> String {
    let f: Vec<String> = b
        .schema()
        .fields()
        .iter()
        .map(|f| format!("{}:{}", f.name(), f.data_type()))
        .collect();
    f.join(";")
}

/// The gRPC status code of a failed call and whether its message names `what`.
fn code(e: &FlightError, what: &str) -> (String, bool) {
    match e {
        FlightError::Tonic(s) => (format!("{:?}", s.code()), s.message().contains(what)),
        other => (format!("other: {other}"), false),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (url, password, table, sql) = (&args[1], &args[2], &args[3], &args[4]);
    let channel = Channel::from_shared(url.clone())?.connect().await?;
    match login(channel.clone(), "admin", &format!("{password}-wrong")).await {
        Ok(_) => out("wrong_password", "accepted"),
        Err(s) => out("wrong_password", format!("{:?}", s.code())),
    }
    let bearer = login(channel.clone(), "admin", password).await?;
    let mut client = FlightClient::new(channel);
    client.add_header("authorization", &bearer)?;

    let batches: Vec<RecordBatch> = client
        .do_get(Ticket::new(sql.clone()))
        .await?
        .try_collect()
        .await?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let mut sum_i: i64 = 0;
    let mut sum_len: usize = 0;
    let mut nulls = 0;
    let (mut sum_d, mut sum_dd, mut sum_ts) = (0i128, 0f64, 0i64);
    for b in &batches {
        sum_d += col::<Decimal128Array>(b, "d").values().iter().sum::<i128>();
        sum_dd += col::<Float64Array>(b, "dd").values().iter().sum::<f64>();
        let ts = col::<TimestampMicrosecondArray>(b, "ts");
        sum_ts += ts
            .values()
            .iter()
            .map(|v| v - EPOCH_2024_MICROS)
            .sum::<i64>();
        sum_i += col::<Int64Array>(b, "i").values().iter().sum::<i64>();
        let s = b.column_by_name("s").unwrap();
        let s = arrow_array::cast::AsArray::as_string::<i32>(s);
        sum_len += s.iter().map(|v| v.map_or(0, |x| x.len())).sum::<usize>();
        nulls += b.column_by_name("n").unwrap().null_count();
    }
    if let Some(b) = batches.first() {
        out("get_schema", field_list(b));
    }
    out("get_rows", rows);
    out("get_sum_i", sum_i);
    out("get_sum_len", sum_len);
    out("get_nulls", nulls);
    out(
        "get_sum_d",
        format!("{}.{}", sum_d / 10, (sum_d % 10).abs()),
    ); // scale 1
    out("get_sum_dd", sum_dd);
    out("get_sum_ts", sum_ts);

    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ]));
    let mut put = Vec::new();
    for b in 0..5i64 {
        let ks: Vec<i64> = (b * 10_000..(b + 1) * 10_000).collect();
        let names: Vec<Option<String>> = ks
            .iter()
            .map(|k| {
                if k % 7 == 0 {
                    None
                } else {
                    Some(format!("n{k}"))
                }
            })
            .collect();
        put.push(RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ks)),
                Arc::new(StringArray::from(names)),
            ],
        )?);
    }
    let cmd = format!("{{\"table\": \"{table}\", \"mode\": \"replace\"}}");
    let input = FlightDataEncoderBuilder::new()
        .with_flight_descriptor(Some(FlightDescriptor::new_cmd(cmd)))
        .build(futures::stream::iter(put.into_iter().map(Ok)));
    let results: Vec<_> = client.do_put(input).await?.try_collect().await?;
    for r in &results {
        out("put_result", String::from_utf8_lossy(&r.app_metadata));
    }

    let xs = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
    let mut xb = Vec::new();
    for b in 0..3i64 {
        let v: Vec<i64> = (b * 1000..(b + 1) * 1000).collect();
        xb.push(RecordBatch::try_new(
            xs.clone(),
            vec![Arc::new(Int64Array::from(v))],
        )?);
    }
    let input = FlightDataEncoderBuilder::new()
        .with_flight_descriptor(Some(FlightDescriptor::new_cmd("processed")))
        .build(futures::stream::iter(xb.into_iter().map(Ok)));
    let got: Vec<RecordBatch> = client.do_exchange(input).await?.try_collect().await?;
    let (mut xrows, mut trues, mut sum_x) = (0usize, 0usize, 0i64);
    for b in &got {
        let x = col::<Int64Array>(b, "x");
        let p = col::<BooleanArray>(b, "processed");
        sum_x += x.values().iter().sum::<i64>();
        trues += p.true_count();
        xrows += b.num_rows();
    }
    if let Some(b) = got.first() {
        out("exchange_schema", field_list(b));
    }
    out("exchange_rows", xrows);
    out("exchange_trues", trues);
    out("exchange_sum_x", sum_x);

    let actions: Vec<_> = client.list_actions().await?.try_collect().await?;
    out(
        "actions",
        actions
            .iter()
            .map(|a| a.r#type.clone())
            .collect::<Vec<_>>()
            .join(","),
    );

    let missing = "no_such_table_from_rust";
    let err = match client
        .do_get(Ticket::new(format!("SELECT * FROM {missing}")))
        .await
    {
        Err(e) => code(&e, missing),
        Ok(s) => match s.try_collect::<Vec<RecordBatch>>().await {
            Err(e) => code(&e, missing),
            Ok(_) => ("none".to_string(), false),
        },
    };
    out("sql_error", err.0);
    out("sql_error_mentions_table", err.1);
    out("done", true);
    Ok(())
}
