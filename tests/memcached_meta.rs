//! Differential tests of memcached's meta commands (mg, ms, md, ma, mn,
//! me) against Debian's memcached 1.6: flags, modes, quiet mode, base64
//! keys, opaque, vivify/recache/stale semantics and every error text.

mod mc_common;

use mc_common::{normalize_text, Pair};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const CASES: &[&str] = &[
    "ms k 2\\r\\nhi\\r\\n",
    "mg k",
    "mg k v",
    "mg k s v f t c k Oabc q",
    "mg k h l",
    "mg k h",
    "mg missing",
    "mg missing k Oop",
    "mg missing q",
    "mg missing q k",
    "mg",
    "mg k x",
    "mg k v v",
    "mg k Tabc",
    "mg k T30 t v",
    "mg k t",
    "mg k MX",
    "ms k\\r\\n",
    "ms k abc\\r\\nhi\\r\\n",
    "ms k -1\\r\\n",
    "ms k 2 MX\\r\\nhi\\r\\n",
    "ms k 2 MEE\\r\\nhi\\r\\n",
    "ms k 2 ME\\r\\nhi\\r\\n",
    "ms k 2 MA\\r\\nzz\\r\\n",
    "mg k v",
    "ms k 2 MP\\r\\naa\\r\\n",
    "mg k v",
    "ms k 2 MR\\r\\nrr\\r\\n",
    "ms nokey 2 MR\\r\\nrr\\r\\n",
    "ms nokey 2 MA\\r\\nrr\\r\\n",
    "ms k 2 C1\\r\\ncc\\r\\n",
    "ms k 2 q\\r\\nqq\\r\\n",
    "ms k 2 q MR C1\\r\\nqq\\r\\n",
    "ms k 2 k O123 c\\r\\nkk\\r\\n",
    "ms k 2 F5 T100\\r\\nff\\r\\n",
    "mg k f t v",
    "ms k 3\\r\\nabcd\\r\\n",
    "ms k 2 I\\r\\nii\\r\\n",
    "ms Zm9v 2 b\\r\\nbb\\r\\n",
    "mg foo v",
    "mg Zm9v b v k",
    "mg Zm9v= b v",
    "md Zm9v b k",
    "md foo",
    "md k q",
    "md k",
    "md k C1",
    "ms k 2\\r\\nhi\\r\\n",
    "md k C999",
    "md k x",
    "md k I T30",
    "mg k v c",
    "mg k v c",
    "ma",
    "ma cnt",
    "ma cnt N0",
    "ma cnt v",
    "ma cnt N0 J10 v t",
    "ma cnt v D5",
    "ma cnt v MD D100",
    "ma cnt v MI D18446744073709551615",
    "ma cnt v M+",
    "ma cnt v M- q",
    "ma cnt MX",
    "ma cnt Dx",
    "ma cnt Jx N0",
    "ma k v",
    "ma cnt C1 v",
    "ma cnt O123 k v",
    "ma nope q",
    "ma nope O1 k",
    "me k",
    "me missing",
    "me",
    "mg k O123456789012345678901234567890123",
    "ms k 2 O123456789012345678901234567890123\\r\\nhi\\r\\n",
    "md k O123456789012345678901234567890123",
    "mg a b c d e f g h i j k l m n o p q r s t u",
    "mg vv N30 v c t",
    "mg vv N30 v c t",
    "mg vv v",
    "mg vv R30 v",
    "mg vv v",
    "mz k",
];

#[test]
fn meta_fixed_cases() {
    let Some(mut p) = Pair::start(&[], &[]) else {
        return;
    };
    for c in CASES {
        p.check_str(c);
    }
}

fn random_meta(rng: &mut SmallRng) -> String {
    let key = format!("m{}", rng.gen_range(0..10));
    let pick = |rng: &mut SmallRng, opts: &[&str]| -> Vec<String> {
        opts.iter()
            .filter(|_| rng.gen_bool(0.3))
            .map(|s| s.to_string())
            .collect()
    };
    match rng.gen_range(0..8) {
        0..=2 => {
            let mut f = pick(rng, &["s", "f", "v", "k", "Oq1", "q", "T100", "N100", "u"]);
            if rng.gen_bool(0.3) {
                f.push("t".into());
            }
            format!("mg {key} {}\r\n", f.join(" "))
        }
        3 | 4 => {
            let val: String = if rng.gen_bool(0.5) {
                rng.gen_range(0..1000u32).to_string()
            } else {
                (0..rng.gen_range(0..20))
                    .map(|_| rng.gen_range(b'a'..=b'z') as char)
                    .collect()
            };
            let mut f = pick(rng, &["q", "k", "Oab", "F7", "T0", "I"]);
            if rng.gen_bool(0.4) {
                f.push(format!(
                    "M{}",
                    ["S", "E", "A", "P", "R", "X"][rng.gen_range(0..6)]
                ));
            }
            if rng.gen_bool(0.1) {
                f.push("C1".into());
            }
            format!("ms {key} {} {}\r\n{val}\r\n", val.len(), f.join(" "))
        }
        5 => {
            let f = pick(rng, &["q", "k", "Oz", "C1"]);
            format!("md {key} {}\r\n", f.join(" "))
        }
        6 => {
            let mut f = pick(rng, &["v", "q", "k", "Ox", "N0", "J7", "D3", "T0"]);
            if rng.gen_bool(0.3) {
                f.push(format!(
                    "M{}",
                    ["I", "D", "+", "-", "Q"][rng.gen_range(0..5)]
                ));
            }
            format!("ma {key} {}\r\n", f.join(" "))
        }
        _ => format!("get {key}\r\n"),
    }
}

#[test]
fn meta_random_stream() {
    let Some(mut p) = Pair::start(&[], &[]) else {
        return;
    };
    let seed = std::env::var("MC_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x3e7a_u64);
    let mut rng = SmallRng::seed_from_u64(seed);
    for step in 0..3000 {
        let req = random_meta(&mut rng);
        let a = p.fc.text(req.as_bytes());
        let b = p.mc.text(req.as_bytes());
        if std::env::var_os("MC_TRACE").is_some() {
            eprintln!("{step}: {req:?} -> {:?}", String::from_utf8_lossy(&b));
        }
        assert_eq!(
            normalize_text(&a),
            normalize_text(&b),
            "seed {seed} step {step}: {req:?}\nferrocache: {:?}\nmemcached:  {:?}",
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b)
        );
    }
}
