//! The events themselves: event number `n` → one [`Event`], computed from `n` alone.

use super::model::{Auction, Bid, Event, Person};
use super::random::JavaRandom;
use crate::time::Time;

/// Persons, auctions and bids per 50 events.
const PERSON_PROPORTION: u64 = 1;
const AUCTION_PROPORTION: u64 = 3;
const PROPORTION_DENOMINATOR: u64 = 50;
const FIRST_AUCTION_ID: u64 = 1000;
const FIRST_PERSON_ID: u64 = 1000;
const FIRST_CATEGORY_ID: u64 = 10;
const NUM_CATEGORIES: i32 = 5;
/// Ids of persons and auctions not created yet that may be picked.
const ID_LEAD: i64 = 10;
/// Hot sellers, auctions and bidders are chosen among this many of the newest.
const HOT_GROUP: u64 = 100;
const MIN_STRING_LENGTH: i32 = 3;
const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const US_CITIES: [&str; 10] = [
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
const FIRST_NAMES: [&str; 11] = [
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
const LAST_NAMES: [&str; 9] = [
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];

/// What the generator makes: the reference's settings, with its defaults.
///
/// ```
/// use streamflow::source::nexmark::NexmarkConfig;
///
/// let config = NexmarkConfig { events: 1_000_000, seed: 7, ..NexmarkConfig::default() };
/// assert_eq!(config.events_per_second, 10_000);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct NexmarkConfig {
    /// Mixed into every event's random seed; 0 gives the reference generator's events.
    pub seed: u64,
    /// How many events the source produces before it is exhausted.
    pub events: u64,
    /// The event time of the first event.
    pub base_time: Time,
    /// Events per second of event time (the reference's `firstEventRate`, 10 000).
    pub events_per_second: u64,
    /// Events per group emitted out of order; 1 (the reference's default) keeps them in order.
    pub out_of_order_group_size: u64,
    /// Persons among whom sellers and bidders are chosen (1 000).
    pub num_active_people: u64,
    /// Auctions among which non-hot bids are spread (100).
    pub num_in_flight_auctions: u64,
    /// A bid is for the hot auction with probability `1 − 1/hot_auction_ratio` (2).
    pub hot_auction_ratio: u32,
    /// An auction's seller is hot with probability `1 − 1/hot_sellers_ratio` (4).
    pub hot_sellers_ratio: u32,
    /// A bid's bidder is hot with probability `1 − 1/hot_bidders_ratio` (4).
    pub hot_bidders_ratio: u32,
    /// Average size of a person, in bytes, reached by padding (`extra`) (200).
    pub avg_person_byte_size: u32,
    /// Average size of an auction (500).
    pub avg_auction_byte_size: u32,
    /// Average size of a bid (100).
    pub avg_bid_byte_size: u32,
    /// Events per micro-batch of [`NexmarkSource`](super::NexmarkSource) (1 000 000).
    pub events_per_batch: u64,
}

impl Default for NexmarkConfig {
    fn default() -> Self {
        NexmarkConfig {
            seed: 0,
            events: 100_000,
            // 2015-07-15T00:00:00Z: a fixed time, so that every run sees the same events.
            base_time: Time::from_millis(1_436_918_400_000),
            events_per_second: 10_000,
            out_of_order_group_size: 1,
            num_active_people: 1_000,
            num_in_flight_auctions: 100,
            hot_auction_ratio: 2,
            hot_sellers_ratio: 4,
            hot_bidders_ratio: 4,
            avg_person_byte_size: 200,
            avg_auction_byte_size: 500,
            avg_bid_byte_size: 100,
            events_per_batch: 1_000_000,
        }
    }
}

/// Computes event number `n` of a configured stream, for any `n`, independently of the others
/// (so partitions of a batch are generated in parallel, and a range is the same every time).
///
/// This follows the reference generator of Apache Beam's Nexmark suite (which Flink's Nexmark
/// copies): event ids cycle through 50 slots — 1 person, 3 auctions, 46 bids — and each event
/// draws its values from a `java.util.Random` seeded with its id, in the reference's order, so
/// with [`NexmarkConfig::default`] (seed 0) the events are the reference's events. What it
/// draws:
///
/// - **Hot keys.** A bid goes to the newest "hot" auction (the first of the last 100 auctions)
///   with probability `1 − 1/hot_auction_ratio` (½ by default), else to one of the last
///   `num_in_flight_auctions` auctions (or up to 10 ahead, not created yet); its bidder is the
///   hot bidder of the last 100 persons with probability `1 − 1/hot_bidders_ratio` (¾), else one
///   of the last `num_active_people` persons (or up to 10 ahead). An auction's seller is hot with
///   probability `1 − 1/hot_sellers_ratio` (¾).
/// - **Prices** `round(10^(6u) · 100)` cents for `u` uniform in `[0, 1)` (log-uniform, 1 $ to
///   1 M$); the reserve is the initial bid plus another such price; 5 categories (10–14).
/// - **Auction lengths** uniform in `[1, 2h]` ms, `h` being the event time it takes to create
///   `num_in_flight_auctions` more auctions.
/// - **Strings**: names, e-mails, cities and states from the reference's lists and its random
///   strings; `extra` pads each event to the configured average size (±20 %).
/// - **Event time** advances by `1 / events_per_second` per event from `base_time`.
/// - **Out of order**: with `out_of_order_group_size = g > 1`, the events of each group of `g`
///   are emitted in the pseudo-random order `n ↦ ⌊n/g⌋·g + (953·n mod g)` (the reference's
///   `outOfOrderGroupSize`): event times go back by up to `g / events_per_second`.
///
/// Not reproduced: the reference source's wall-clock pacing and its occasional delayed
/// emission (those belong to its unbounded source, not to the events), and rate shapes other
/// than a constant rate.
///
/// ```
/// use streamflow::source::nexmark::{Event, NexmarkConfig, NexmarkGenerator};
///
/// let generator = NexmarkGenerator::new(NexmarkConfig::default());
/// let Event::Bid(bid) = generator.event(10) else { panic!("event 10 is a bid") };
/// assert_eq!(bid.date_time.millis(), NexmarkConfig::default().base_time.millis() + 1);
/// assert_eq!(generator.event(10), generator.event(10));
/// ```
#[derive(Clone, Debug)]
pub struct NexmarkGenerator {
    config: NexmarkConfig,
    /// Microseconds of event time between two events.
    inter_event_delay_us: u64,
    /// Mixed into the seeds (0 for seed 0).
    seed_mix: i64,
}

impl NexmarkGenerator {
    /// A generator of `config`'s events.
    ///
    /// ```
    /// # use streamflow::source::nexmark::{NexmarkConfig, NexmarkGenerator};
    /// let generator = NexmarkGenerator::new(NexmarkConfig::default());
    /// assert_eq!(generator.config().events, 100_000);
    /// ```
    pub fn new(config: NexmarkConfig) -> Self {
        let rate = config.events_per_second.max(1);
        let seed_mix = if config.seed == 0 {
            0
        } else {
            // A bijective scramble, so that nearby seeds give unrelated streams.
            config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) as i64
        };
        NexmarkGenerator {
            inter_event_delay_us: (1_000_000 + rate / 2) / rate,
            seed_mix,
            config,
        }
    }

    /// Its settings.
    ///
    /// ```
    /// # use streamflow::source::nexmark::{NexmarkConfig, NexmarkGenerator};
    /// assert_eq!(NexmarkGenerator::new(NexmarkConfig::default()).config().seed, 0);
    /// ```
    pub fn config(&self) -> &NexmarkConfig {
        &self.config
    }

    /// The number of the event emitted at position `n` (its id and the source of its time):
    /// `n` itself, or `n` moved within its out-of-order group.
    fn event_number(&self, n: u64) -> u64 {
        let g = self.config.out_of_order_group_size.max(1);
        if g == 1 {
            return n;
        }
        (n / g) * g + ((n % g) * (953 % g)) % g
    }

    /// The event time of event number `number`.
    fn timestamp(&self, number: u64) -> Time {
        let offset_us = u128::from(number) * u128::from(self.inter_event_delay_us);
        let offset_ms = i64::try_from(offset_us / 1_000).unwrap_or(i64::MAX);
        Time::from_millis(self.config.base_time.millis().saturating_add(offset_ms))
    }

    /// A lower bound of the event times of the events emitted at position `n` and after:
    /// the reference's watermark (the event time of the first event of `n`'s group).
    ///
    /// ```
    /// # use streamflow::source::nexmark::{NexmarkConfig, NexmarkGenerator};
    /// let config = NexmarkConfig { out_of_order_group_size: 100, ..NexmarkConfig::default() };
    /// let generator = NexmarkGenerator::new(config);
    /// assert!((150..1_000).all(|n| generator.event(n).date_time() >= generator.watermark(150)));
    /// ```
    pub fn watermark(&self, n: u64) -> Time {
        let g = self.config.out_of_order_group_size.max(1);
        self.timestamp((n / g) * g)
    }

    /// The event emitted at position `n` (0-based).
    ///
    /// ```
    /// # use streamflow::source::nexmark::{Event, NexmarkConfig, NexmarkGenerator};
    /// let generator = NexmarkGenerator::new(NexmarkConfig::default());
    /// assert!(matches!(generator.event(0), Event::Person(_)));
    /// assert!(matches!(generator.event(1), Event::Auction(_)));
    /// assert!(matches!(generator.event(4), Event::Bid(_)));
    /// ```
    pub fn event(&self, n: u64) -> Event {
        let number = self.event_number(n);
        let id = number;
        let time = self.timestamp(number);
        let mut random = JavaRandom::new((id as i64) ^ self.seed_mix);
        let rem = id % PROPORTION_DENOMINATOR;
        if rem < PERSON_PROPORTION {
            Event::Person(self.person(id, &mut random, time))
        } else if rem < PERSON_PROPORTION + AUCTION_PROPORTION {
            Event::Auction(self.auction(number, id, &mut random, time))
        } else {
            Event::Bid(self.bid(id, &mut random, time))
        }
    }

    fn person(&self, id: u64, random: &mut JavaRandom, time: Time) -> Person {
        let name = format!("{} {}", pick(random, &FIRST_NAMES), pick(random, &LAST_NAMES));
        let email_address = format!("{}@{}.com", next_string(random, 7), next_string(random, 5));
        let credit_card = (0..4)
            .map(|_| format!("{:04}", random.next_int_bounded(10_000)))
            .collect::<Vec<_>>()
            .join(" ");
        let city = pick(random, &US_CITIES).to_string();
        let state = pick(random, &US_STATES).to_string();
        let size = 8 + name.len() + email_address.len() + credit_card.len() + city.len() + state.len();
        let extra = next_extra(random, size, self.config.avg_person_byte_size);
        Person {
            id: last_base0_person_id(id) + FIRST_PERSON_ID,
            name,
            email_address,
            credit_card,
            city,
            state,
            date_time: time,
            extra,
        }
    }

    fn auction(&self, number: u64, id: u64, random: &mut JavaRandom, time: Time) -> Auction {
        let seller = if random.next_int_bounded(ratio(self.config.hot_sellers_ratio)) > 0 {
            (last_base0_person_id(id) / HOT_GROUP) * HOT_GROUP
        } else {
            self.next_base0_person_id(id, random)
        } + FIRST_PERSON_ID;
        let category = FIRST_CATEGORY_ID + random.next_int_bounded(NUM_CATEGORIES) as u64;
        let initial_bid = next_price(random);
        let expires = Time::from_millis(
            time.millis()
                .saturating_add(self.auction_length_ms(number, random, time)),
        );
        let item_name = next_string(random, 20);
        let description = next_string(random, 100);
        let reserve = initial_bid + next_price(random);
        let size = 8 + item_name.len() + description.len() + 5 * 8;
        let extra = next_extra(random, size, self.config.avg_auction_byte_size);
        Auction {
            id: last_base0_auction_id(id) + FIRST_AUCTION_ID,
            item_name,
            description,
            initial_bid,
            reserve,
            date_time: time,
            expires,
            seller,
            category,
            extra,
        }
    }

    fn bid(&self, id: u64, random: &mut JavaRandom, time: Time) -> Bid {
        let auction = if random.next_int_bounded(ratio(self.config.hot_auction_ratio)) > 0 {
            (last_base0_auction_id(id) / HOT_GROUP) * HOT_GROUP
        } else {
            self.next_base0_auction_id(id, random)
        } + FIRST_AUCTION_ID;
        let bidder = if random.next_int_bounded(ratio(self.config.hot_bidders_ratio)) > 0 {
            // The second of the group, so that hot bidders are not hot sellers.
            (last_base0_person_id(id) / HOT_GROUP) * HOT_GROUP + 1
        } else {
            self.next_base0_person_id(id, random)
        } + FIRST_PERSON_ID;
        let price = next_price(random);
        let extra = next_extra(random, 32, self.config.avg_bid_byte_size);
        Bid {
            auction,
            bidder,
            price,
            date_time: time,
            extra,
        }
    }

    /// One of the active persons, or one of the next few not created yet.
    fn next_base0_person_id(&self, id: u64, random: &mut JavaRandom) -> u64 {
        let people = last_base0_person_id(id) + 1;
        let active = people.min(self.config.num_active_people.max(1));
        let n = random.next_long_below(active as i64 + ID_LEAD) as u64;
        people - active + n
    }

    /// One of the auctions likely still open, or one of the next few not created yet.
    fn next_base0_auction_id(&self, id: u64, random: &mut JavaRandom) -> u64 {
        let max = last_base0_auction_id(id);
        let min = max.saturating_sub(self.config.num_in_flight_auctions);
        min + random.next_long_below((max - min) as i64 + 1 + ID_LEAD) as u64
    }

    /// A length whose average is the event time it takes to create `num_in_flight_auctions`
    /// more auctions.
    fn auction_length_ms(&self, number: u64, random: &mut JavaRandom, time: Time) -> i64 {
        let events_ahead = self.config.num_in_flight_auctions * PROPORTION_DENOMINATOR / AUCTION_PROPORTION;
        let horizon = self.timestamp(number + events_ahead).millis() - time.millis();
        1 + random.next_long_below((horizon * 2).max(1))
    }
}

/// A ratio as the bound of `nextInt` (at least 1).
fn ratio(r: u32) -> i32 {
    i32::try_from(r.max(1)).unwrap_or(i32::MAX)
}

/// The newest person id (base 0) at event id `id`: its own if it is a person.
fn last_base0_person_id(id: u64) -> u64 {
    // One person per epoch: the epoch's person (the reference's general form reduces to this).
    id / PROPORTION_DENOMINATOR * PERSON_PROPORTION
}

/// The newest auction id (base 0) at event id `id`: its own if it is an auction.
fn last_base0_auction_id(id: u64) -> u64 {
    let mut epoch = id / PROPORTION_DENOMINATOR;
    let mut offset = id % PROPORTION_DENOMINATOR;
    if offset < PERSON_PROPORTION {
        // A person: the last auction of the previous epoch.
        if epoch == 0 {
            return 0;
        }
        epoch -= 1;
        offset = AUCTION_PROPORTION - 1;
    } else if offset >= PERSON_PROPORTION + AUCTION_PROPORTION {
        // A bid: the last auction of this epoch.
        offset = AUCTION_PROPORTION - 1;
    } else {
        offset -= PERSON_PROPORTION;
    }
    epoch * AUCTION_PROPORTION + offset
}

fn pick<'a>(random: &mut JavaRandom, from: &[&'a str]) -> &'a str {
    from[random.next_int_bounded(from.len() as i32) as usize]
}

/// A log-uniform price in cents, from 1 $ to 1 M$.
fn next_price(random: &mut JavaRandom) -> u64 {
    (10f64.powf(random.next_double() * 6.0) * 100.0 + 0.5).floor() as u64
}

/// Random lower-case letters and spaces, 3 to `max_length - 1` of them, trimmed.
fn next_string(random: &mut JavaRandom, max_length: i32) -> String {
    let len = MIN_STRING_LENGTH + random.next_int_bounded(max_length - MIN_STRING_LENGTH);
    let s: String = (0..len)
        .map(|_| {
            if random.next_int_bounded(13) == 0 {
                ' '
            } else {
                char::from(b'a' + random.next_int_bounded(26) as u8)
            }
        })
        .collect();
    let trimmed = s.trim_matches(' ');
    if trimmed.len() == s.len() {
        s
    } else {
        trimmed.to_string()
    }
}

/// `length` characters, six per random `int` (the reference's `nextExactString`, whose negative
/// remainders give characters from `H` to `z`).
fn next_exact_string(random: &mut JavaRandom, length: usize) -> String {
    let mut s = String::with_capacity(length);
    let mut rnd = 0_i32;
    let mut left = 0;
    for _ in 0..length {
        if left == 0 {
            rnd = random.next_int();
            left = 6;
        }
        s.push(char::from((i32::from(b'a') + rnd % 26) as u8));
        rnd /= 26;
        left -= 1;
    }
    s
}

/// Padding that brings an event of `current` bytes to `average` bytes on average (±20 %).
fn next_extra(random: &mut JavaRandom, current: usize, average: u32) -> String {
    let average = average as usize;
    if current > average {
        return String::new();
    }
    let wanted = (average - current) as i32;
    let delta = (f64::from(wanted) * 0.2).round() as i32;
    let size = wanted - delta
        + if delta == 0 {
            0
        } else {
            random.next_int_bounded(2 * delta)
        };
    next_exact_string(random, size.max(0) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(config: NexmarkConfig, n: u64) -> Vec<Event> {
        let generator = NexmarkGenerator::new(config);
        (0..n).map(|i| generator.event(i)).collect()
    }

    #[test]
    fn persons_auctions_and_bids_come_in_the_ratio_1_3_46() {
        let all = events(NexmarkConfig::default(), 5_000);
        let persons = all.iter().filter(|e| matches!(e, Event::Person(_))).count();
        let auctions = all.iter().filter(|e| matches!(e, Event::Auction(_))).count();
        assert_eq!(
            (persons, auctions, all.len() - persons - auctions),
            (100, 300, 4_600)
        );
    }

    #[test]
    fn ids_are_dense_and_in_order() {
        let all = events(NexmarkConfig::default(), 5_000);
        let persons: Vec<u64> = all
            .iter()
            .cloned()
            .filter_map(Event::into_person)
            .map(|p| p.id)
            .collect();
        let auctions: Vec<u64> = all
            .iter()
            .cloned()
            .filter_map(Event::into_auction)
            .map(|a| a.id)
            .collect();
        assert_eq!(persons, (1000..1100).collect::<Vec<_>>());
        assert_eq!(auctions, (1000..1300).collect::<Vec<_>>());
    }

    #[test]
    fn values_follow_the_reference_distributions() {
        let all = events(NexmarkConfig::default(), 50_000);
        let bids: Vec<Bid> = all.iter().cloned().filter_map(Event::into_bid).collect();
        let auctions: Vec<Auction> = all.iter().cloned().filter_map(Event::into_auction).collect();
        // Hot auctions: about half the bids go to the hot auction of their hundred (a little
        // less, in the reference too: the first draws of `java.util.Random` seeded with
        // consecutive ids are correlated).
        let hot = bids
            .iter()
            .filter(|b| (b.auction - FIRST_AUCTION_ID) % HOT_GROUP == 0)
            .count() as f64
            / bids.len() as f64;
        assert!((0.45..0.55).contains(&hot), "hot auction share {hot}");
        // Hot bidders: about three quarters.
        let hot = bids
            .iter()
            .filter(|b| (b.bidder - FIRST_PERSON_ID) % HOT_GROUP == 1)
            .count() as f64
            / bids.len() as f64;
        assert!((0.73..0.78).contains(&hot), "hot bidder share {hot}");
        // Prices: log-uniform over 6 decades, from 100 cents to 100 000 000.
        assert!(bids.iter().all(|b| (100..=100_000_000).contains(&b.price)));
        let below_1000_dollars = bids.iter().filter(|b| b.price < 100_000).count() as f64 / bids.len() as f64;
        assert!((0.47..0.53).contains(&below_1000_dollars), "{below_1000_dollars}");
        // Categories 10..=14, reserve ≥ initial bid, auctions close after they open.
        assert!(auctions.iter().all(|a| (10..15).contains(&a.category)));
        assert!(
            auctions
                .iter()
                .all(|a| a.reserve >= a.initial_bid && a.expires > a.date_time)
        );
        // Bids are about 100 bytes: 32 + extra of 54..82.
        assert!(bids.iter().all(|b| (54..82).contains(&b.extra.len())));
        // Bids refer to auctions and persons that exist or are at most 10 ahead.
        for (i, e) in all.iter().enumerate() {
            if let Event::Bid(b) = e {
                assert!(b.auction <= FIRST_AUCTION_ID + last_base0_auction_id(i as u64) + 10);
                assert!(b.bidder <= FIRST_PERSON_ID + last_base0_person_id(i as u64) + 10);
            }
        }
    }

    #[test]
    fn event_time_advances_at_the_configured_rate() {
        let config = NexmarkConfig::default();
        let base = config.base_time.millis();
        let all = events(config, 20_001);
        assert_eq!(all[0].date_time().millis(), base);
        assert_eq!(all[20_000].date_time().millis(), base + 2_000);
        assert!(all.windows(2).all(|w| w[0].date_time() <= w[1].date_time()));
    }

    #[test]
    fn out_of_order_groups_are_permutations_within_the_group() {
        let ordered = events(NexmarkConfig::default(), 3_000);
        let config = NexmarkConfig {
            out_of_order_group_size: 1_000,
            ..NexmarkConfig::default()
        };
        let generator = NexmarkGenerator::new(config);
        let shuffled: Vec<Event> = (0..3_000).map(|i| generator.event(i)).collect();
        assert_ne!(ordered, shuffled);
        assert!(shuffled.windows(2).any(|w| w[0].date_time() > w[1].date_time()));
        for group in 0..3 {
            let range = group * 1_000..(group + 1) * 1_000;
            let mut a: Vec<String> = ordered[range.clone()].iter().map(|e| format!("{e:?}")).collect();
            let mut b: Vec<String> = shuffled[range.clone()].iter().map(|e| format!("{e:?}")).collect();
            a.sort();
            b.sort();
            assert_eq!(a, b, "group {group} holds the same events");
            let low = generator.watermark(range.start as u64);
            assert!(shuffled[range].iter().all(|e| e.date_time() >= low));
        }
    }

    #[test]
    fn seeds_change_the_values_not_the_shape() {
        let a = events(NexmarkConfig::default(), 500);
        let b = events(
            NexmarkConfig {
                seed: 1,
                ..NexmarkConfig::default()
            },
            500,
        );
        assert_ne!(a, b);
        let kinds = |v: &[Event]| v.iter().map(std::mem::discriminant).collect::<Vec<_>>();
        assert_eq!(kinds(&a), kinds(&b));
        assert_eq!(a, events(NexmarkConfig::default(), 500), "deterministic");
    }

    /// The first events of the reference generator (Beam's, seed = event id), as its code
    /// computes them: event 0 is person 1000, event 1 auction 1000 sold by person 1000 (hot or
    /// not, there is only one person yet), event 4 the first bid.
    #[test]
    fn the_first_events_are_the_references() {
        let generator = NexmarkGenerator::new(NexmarkConfig::default());
        let Event::Person(p) = generator.event(0) else {
            panic!("a person")
        };
        let mut random = JavaRandom::new(0);
        let first = FIRST_NAMES[random.next_int_bounded(11) as usize];
        let last = LAST_NAMES[random.next_int_bounded(9) as usize];
        assert_eq!(p.name, format!("{first} {last}"));
        assert_eq!(p.id, 1000);
        let Event::Auction(a) = generator.event(1) else {
            panic!("an auction")
        };
        assert_eq!((a.id, a.seller), (1000, 1000));
        let Event::Bid(b) = generator.event(4) else {
            panic!("a bid")
        };
        assert!(b.auction >= 1000 && b.auction <= 1012, "{b:?}");
    }
}
