//! Benchmarks of the crypto core: sealing for 1, 10 and 100 recipients with a cold and a warm
//! shared-key cache, and decoding 1 KiB and 1 MiB payloads with both codecs.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use tm_core::seal::PrivacyMetadata;
use tm_core::{EncodedPayload, KeyPair, Keyring, PayloadCodec, PublicKey};

fn recipients(count: usize) -> Vec<PublicKey> {
    (0..count)
        .map(|_| KeyPair::generate().expect("random key").public)
        .collect()
}

fn seal(c: &mut Criterion) {
    let sender = KeyPair::generate().expect("random key");
    let message = vec![0x5a; 1024];
    let metadata = PrivacyMetadata::default();
    let mut group = c.benchmark_group("seal_1KiB");
    for count in [1usize, 10, 100] {
        let keys = recipients(count);
        group.throughput(Throughput::Elements(count as u64));
        group.bench_with_input(BenchmarkId::new("cold_cache", count), &keys, |b, keys| {
            b.iter_batched(
                || Keyring::new(vec![sender.clone()]),
                |ring| {
                    ring.encrypt_payload(&message, &sender.public, keys, &metadata)
                        .expect("seals")
                },
                BatchSize::SmallInput,
            );
        });
        let warm = Keyring::new(vec![sender.clone()]);
        warm.encrypt_payload(&message, &sender.public, &keys, &metadata)
            .expect("warms the cache");
        group.bench_with_input(BenchmarkId::new("warm_cache", count), &keys, |b, keys| {
            b.iter(|| {
                warm.encrypt_payload(&message, &sender.public, keys, &metadata)
                    .expect("seals")
            });
        });
    }
    group.finish();
}

fn decode(c: &mut Criterion) {
    let sender = KeyPair::generate().expect("random key");
    let ring = Keyring::new(vec![sender.clone()]);
    let keys = recipients(1);
    let mut group = c.benchmark_group("decode");
    for (label, size) in [("1KiB", 1024usize), ("1MiB", 1024 * 1024)] {
        let payload: EncodedPayload = ring
            .encrypt_payload(
                &vec![7u8; size],
                &sender.public,
                &keys,
                &PrivacyMetadata::default(),
            )
            .expect("seals");
        for codec in [PayloadCodec::Legacy, PayloadCodec::Cbor] {
            let bytes = codec.encode(&payload);
            group.throughput(Throughput::Bytes(bytes.len() as u64));
            group.bench_with_input(BenchmarkId::new(codec.name(), label), &bytes, |b, bytes| {
                b.iter(|| codec.decode(bytes).expect("decodes"));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, seal, decode);
criterion_main!(benches);
