//! Nexmark's three kinds of event: a new person, a new auction, a bid.

use serde::{Deserialize, Serialize};

use crate::time::Time;

/// A person joined the auction site (Nexmark's `Person`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Person {
    /// Its id (from 1000 on, in order of joining).
    pub id: u64,
    /// First and last name.
    pub name: String,
    /// An e-mail address.
    pub email_address: String,
    /// A credit card number (`dddd dddd dddd dddd`).
    pub credit_card: String,
    /// One of ten US cities.
    pub city: String,
    /// One of six US states.
    pub state: String,
    /// When the person joined (event time).
    pub date_time: Time,
    /// Padding to the configured average size.
    pub extra: String,
}

/// An item put up for auction (Nexmark's `Auction`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Auction {
    /// Its id (from 1000 on, in order of creation).
    pub id: u64,
    /// The item's name.
    pub item_name: String,
    /// The item's description.
    pub description: String,
    /// The starting price, in cents.
    pub initial_bid: u64,
    /// The reserve price, in cents (at least the initial bid).
    pub reserve: u64,
    /// When the auction opened (event time).
    pub date_time: Time,
    /// When it closes.
    pub expires: Time,
    /// The seller's person id.
    pub seller: u64,
    /// Its category (10 to 14).
    pub category: u64,
    /// Padding to the configured average size.
    pub extra: String,
}

/// A bid on an auction (Nexmark's `Bid`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Bid {
    /// The auction's id.
    pub auction: u64,
    /// The bidder's person id.
    pub bidder: u64,
    /// The price offered, in cents.
    pub price: u64,
    /// When the bid was made (event time).
    pub date_time: Time,
    /// Padding to the configured average size.
    pub extra: String,
}

/// One Nexmark event: a [`Person`], an [`Auction`] or a [`Bid`].
///
/// ```
/// use streamflow::source::nexmark::{Event, NexmarkConfig, NexmarkGenerator};
///
/// let generator = NexmarkGenerator::new(NexmarkConfig::default());
/// let bids = (0..50).map(|i| generator.event(i)).filter_map(Event::into_bid).count();
/// assert_eq!(bids, 46); // persons, auctions and bids in the ratio 1:3:46
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Event {
    /// A new person.
    Person(Person),
    /// A new auction.
    Auction(Auction),
    /// A bid.
    Bid(Bid),
}

impl Event {
    /// When the event happened (its event time).
    ///
    /// ```
    /// # use streamflow::source::nexmark::{NexmarkConfig, NexmarkGenerator};
    /// let config = NexmarkConfig::default();
    /// let event = NexmarkGenerator::new(config.clone()).event(0);
    /// assert_eq!(event.date_time(), config.base_time);
    /// ```
    pub fn date_time(&self) -> Time {
        match self {
            Event::Person(p) => p.date_time,
            Event::Auction(a) => a.date_time,
            Event::Bid(b) => b.date_time,
        }
    }

    /// The bid, if it is one (for `flat_map(Event::into_bid)`).
    ///
    /// ```
    /// # use streamflow::source::nexmark::{NexmarkConfig, NexmarkGenerator};
    /// let generator = NexmarkGenerator::new(NexmarkConfig::default());
    /// assert!(generator.event(0).into_bid().is_none()); // event 0 is a person
    /// assert!(generator.event(4).into_bid().is_some());
    /// ```
    pub fn into_bid(self) -> Option<Bid> {
        match self {
            Event::Bid(b) => Some(b),
            _ => None,
        }
    }

    /// The auction, if it is one.
    ///
    /// ```
    /// # use streamflow::source::nexmark::{NexmarkConfig, NexmarkGenerator};
    /// let generator = NexmarkGenerator::new(NexmarkConfig::default());
    /// assert_eq!(generator.event(1).into_auction().map(|a| a.id), Some(1000));
    /// ```
    pub fn into_auction(self) -> Option<Auction> {
        match self {
            Event::Auction(a) => Some(a),
            _ => None,
        }
    }

    /// The person, if it is one.
    ///
    /// ```
    /// # use streamflow::source::nexmark::{NexmarkConfig, NexmarkGenerator};
    /// let generator = NexmarkGenerator::new(NexmarkConfig::default());
    /// assert_eq!(generator.event(0).into_person().map(|p| p.id), Some(1000));
    /// ```
    pub fn into_person(self) -> Option<Person> {
        match self {
            Event::Person(p) => Some(p),
            _ => None,
        }
    }
}
