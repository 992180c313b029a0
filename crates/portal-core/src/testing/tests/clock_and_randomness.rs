//! ManualClock and SeededRandom.

use super::*;

#[test]
fn the_manual_clock_moves_only_when_told_and_clones_share_it() {
    let clock = ManualClock::new(T0);
    let shared = clock.clone();
    assert_eq!(Clock::now(&shared), T0);
    assert_eq!(clock.advance(SignedDuration::from_secs(90)), at(90));
    assert_eq!(shared.now(), at(90));
    shared.set(at(-5));
    assert_eq!(clock.now(), at(-5));
    assert_eq!(clock.advance(SignedDuration::from_secs(-5)), at(-10));
}

#[test]
fn seeded_random_repeats_per_seed_and_clones_share_one_stream() -> TestResult {
    let draw = |random: &SeededRandom| -> TestResult<[u8; 13]> {
        let mut bytes = [0u8; 13];
        random.fill(&mut bytes)?;
        Ok(bytes)
    };
    let random = SeededRandom::new(1);
    let first = draw(&random)?;
    assert_eq!(draw(&SeededRandom::new(1))?, first);
    assert_ne!(draw(&SeededRandom::new(2))?, first);
    let clone = random.clone();
    let second = draw(&clone)?;
    assert_ne!(second, first);
    let replay = SeededRandom::new(1);
    draw(&replay)?;
    assert_eq!(draw(&replay)?, second);
    Ok(())
}
