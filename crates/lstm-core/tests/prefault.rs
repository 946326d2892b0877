//! A large copy (a dataset the binding copies on the JavaScript thread) has its memory faulted in at once and
//! advised as transparent huge pages, so that the copy takes a few page faults instead of thousands; a small
//! buffer is left alone.
#![cfg(target_os = "linux")]

use lstm_core::mem;

/// The `VmFlags` and the `Rss` (kB) of the mapping of /proc/self/smaps that holds address `at`.
fn mapping(at: usize) -> (Vec<String>, usize) {
    let smaps = std::fs::read_to_string("/proc/self/smaps").expect("/proc/self/smaps");
    let (mut inside, mut rss) = (false, 0);
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((lo, hi)) = first.split_once('-') {
            if let (Ok(lo), Ok(hi)) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16)) {
                inside = lo <= at && at < hi;
                continue;
            }
        }
        if !inside {
            continue;
        }
        if let Some(kb) = line.strip_prefix("Rss:") {
            rss = kb.trim().trim_end_matches("kB").trim().parse().expect("Rss");
        }
        if let Some(flags) = line.strip_prefix("VmFlags:") {
            return (flags.split_whitespace().map(String::from).collect(), rss);
        }
    }
    panic!("no mapping holds {at:#x}")
}

// One test, in this order: a small buffer first, while glibc still gives buffers this large fresh mappings of their own
// (freeing a large one raises its threshold for that, after which a small buffer may come from memory already used).
#[test]
fn large_buffers_are_faulted_in_at_once_and_small_ones_left_alone() {
    let len = mem::PREFAULT_FROM - 1;
    let mut small: Vec<u8> = Vec::with_capacity(len);
    mem::prefault(&mut small);
    let (flags, rss_kb) = mapping(small.as_ptr() as usize + len / 2);
    assert!(!flags.iter().any(|f| f == "hg"), "{flags:?}");
    assert!(rss_kb * 1024 < len / 2, "{rss_kb} kB resident of {} kB", len >> 10);

    let len = 24 << 20;
    let mut big: Vec<u8> = Vec::with_capacity(len);
    mem::prefault(&mut big);
    // `hg` is the MADV_HUGEPAGE flag of a mapping, set whatever the system's transparent_hugepage setting.
    let (flags, rss_kb) = mapping(big.as_ptr() as usize + len / 2);
    assert!(flags.iter().any(|f| f == "hg"), "{flags:?}");
    // Nothing was written, yet (all but the partial pages at the ends of) the allocation is resident.
    assert!(rss_kb * 1024 >= len - (64 << 10), "{rss_kb} kB resident of {} kB", len >> 10);

    // The IMDB training set: 25,000 reviews of 200 ids.
    let src: Vec<i32> = (0..25_000 * 200).collect();
    let copy = mem::copied(&src, || "a test copy".into()).unwrap();
    assert_eq!(copy, src);
    let (flags, _) = mapping(copy.as_ptr() as usize + copy.len() * 2);
    assert!(flags.iter().any(|f| f == "hg"), "the copy's mapping has flags {flags:?}, without hg");
}
