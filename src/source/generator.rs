//! The built-in generator of randomuser-shaped users, for offline use: deterministic for a
//! given seed (ChaCha8, whose output is fixed across platforms and versions), varied (names
//! by gender, streets, cities of twelve countries with their phone and post-code shapes,
//! emails and usernames that match the names), and fast (see `examples/generator_rate.rs`).

use crate::record::UserRecord;
use chrono::{DateTime, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt::Write;

/// Generates users; the same seed gives the same users in the same order.
#[derive(Debug, Clone)]
pub struct Generator {
    rng: ChaCha8Rng,
}

impl Generator {
    /// A generator for `seed` (any text), or a random one.
    pub fn new(seed: Option<&str>) -> Self {
        let rng = match seed {
            Some(s) => ChaCha8Rng::seed_from_u64(fnv1a(s.as_bytes())),
            None => ChaCha8Rng::from_os_rng(),
        };
        Generator { rng }
    }

    /// The next `n` users.
    pub fn batch(&mut self, n: usize) -> Vec<UserRecord> {
        (0..n).map(|_| self.next_user()).collect()
    }

    pub fn next_user(&mut self) -> UserRecord {
        let rng = &mut self.rng;
        let id = uuid::Builder::from_random_bytes(rng.random()).into_uuid();
        let female = rng.random_bool(0.5);
        let first = pick(rng, if female { FEMALE } else { MALE });
        let last = pick(rng, LAST);
        let country = pick(rng, COUNTRIES);
        let (city, state) = pick(rng, country.cities);
        let number = rng.random_range(1..10_000);
        let street = format!("{} {}", pick(rng, STREET_NAMES), pick(rng, STREET_KINDS));
        let mut address = String::with_capacity(64);
        let _ = write!(
            address,
            "{number} {street}, {city}, {state}, {}",
            country.name
        );
        let dob = timestamp(rng, 1945, 2006);
        let registered = timestamp(rng, 2002, 2023);
        let lower_first = first.to_lowercase();
        let lower_last = last.to_lowercase();
        UserRecord {
            id,
            first_name: first.to_string(),
            last_name: last.to_string(),
            gender: if female { "female" } else { "male" }.to_string(),
            address,
            post_code: shape(rng, country.post_code),
            email: format!("{lower_first}.{lower_last}@example.com"),
            username: format!(
                "{}{}{}",
                pick(rng, ADJECTIVES),
                pick(rng, ANIMALS),
                rng.random_range(100..1000)
            ),
            dob,
            registered_date: registered,
            phone: shape(rng, country.phone),
            picture: format!(
                "https://randomuser.me/api/portraits/med/{}/{}.jpg",
                if female { "women" } else { "men" },
                rng.random_range(0..100)
            ),
        }
    }
}

impl Iterator for Generator {
    type Item = UserRecord;
    fn next(&mut self) -> Option<UserRecord> {
        Some(self.next_user())
    }
}

/// A country as the API describes its users.
struct Country {
    name: &'static str,
    cities: &'static [(&'static str, &'static str)],
    /// `#` is a digit, `A` an upper-case letter, anything else is kept.
    phone: &'static str,
    post_code: &'static str,
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// Fills a `#`/`A` pattern with random digits and letters.
fn shape(rng: &mut ChaCha8Rng, pattern: &str) -> String {
    pattern
        .chars()
        .map(|c| match c {
            '#' => char::from(b'0' + rng.random_range(0..10u8)),
            'A' => char::from(b'A' + rng.random_range(0..26u8)),
            other => other,
        })
        .collect()
}

/// A time with millisecond precision (as the API's) between Jan 1 of the two years.
fn timestamp(rng: &mut ChaCha8Rng, from_year: i32, to_year: i32) -> DateTime<Utc> {
    let start = Utc
        .with_ymd_and_hms(from_year, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
        .timestamp_millis();
    let end = Utc
        .with_ymd_and_hms(to_year, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
        .timestamp_millis();
    let ms = rng.random_range(start..end.max(start + 1));
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// FNV-1a: a stable hash, so a seed text means the same users on every build.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

const FEMALE: &[&str] = &[
    "Jennie",
    "Emma",
    "Olivia",
    "Ava",
    "Sophia",
    "Mia",
    "Charlotte",
    "Amelia",
    "Harper",
    "Ella",
    "Aurora",
    "Léa",
    "Chloé",
    "Manon",
    "Inès",
    "Sofia",
    "Giulia",
    "Alice",
    "Lena",
    "Hanna",
    "Marie",
    "Nora",
    "Ida",
    "Freja",
    "Astrid",
    "Saga",
    "Noa",
    "Lucía",
    "Martina",
    "Valentina",
    "Isabela",
    "Laura",
    "Fatma",
    "Zeynep",
    "Elif",
    "Aaliyah",
    "Maya",
    "Priya",
    "Ananya",
    "Anna",
    "Sara",
    "Julia",
    "Mila",
    "Lotte",
    "Fleur",
    "Emilie",
    "Charlie",
    "Ruby",
    "Grace",
    "Isla",
];

const MALE: &[&str] = &[
    "Liam", "Noah", "Oliver", "Elijah", "James", "William", "Benjamin", "Lucas", "Henry",
    "Theodore", "Hugo", "Louis", "Gabriel", "Arthur", "Jules", "Leon", "Paul", "Jonas", "Finn",
    "Elias", "Lars", "Magnus", "Oskar", "Emil", "Mathis", "Mateo", "Santiago", "Diego", "Pablo",
    "Lucas", "Mehmet", "Mustafa", "Emre", "Arjun", "Rohan", "Aarav", "Daan", "Sem", "Bram", "Jack",
    "Harry", "Charlie", "Thomas", "Max", "Felix", "Anton", "Milo", "Leo", "Samuel",
];

const LAST: &[&str] = &[
    "Nichols",
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Martinez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Green",
    "Baker",
    "Adams",
    "Nelson",
    "Hill",
    "Campbell",
    "Mitchell",
    "Roberts",
    "Carter",
    "Phillips",
    "Evans",
    "Turner",
    "Dubois",
    "Lefebvre",
    "Moreau",
    "Laurent",
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Hansen",
    "Nielsen",
    "Jensen",
    "Andersen",
    "Johansson",
    "Karlsson",
    "Nilsson",
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Fernández",
    "González",
    "Rodríguez",
    "Sánchez",
    "Yılmaz",
    "Kaya",
    "Demir",
    "Singh",
    "Kumar",
    "Sharma",
    "De Jong",
    "Jansen",
    "De Vries",
    "Van den Berg",
    "Tremblay",
    "Gagnon",
    "Roy",
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Virtanen",
    "Korhonen",
];

const STREET_NAMES: &[&str] = &[
    "Valwood",
    "Oak",
    "Maple",
    "Cedar",
    "Pine",
    "Elm",
    "Washington",
    "Lake",
    "Hill",
    "Park",
    "Main",
    "Church",
    "High",
    "Station",
    "Victoria",
    "Green",
    "Mill",
    "Rue de la Paix",
    "Schillerstraße",
    "Bahnhofstraße",
    "Via Roma",
    "Calle Mayor",
    "Storgata",
    "Kirkegade",
    "Dorpsstraat",
    "Atatürk Sk",
    "Sunset",
    "Hickory Creek",
    "Mockingbird",
    "Northaven",
    "Bruce",
    "Cherry",
    "Spring",
    "Forest",
    "Ranchview",
    "Paddock",
    "Fincher",
    "Groveland",
];

const STREET_KINDS: &[&str] = &[
    "Pkwy", "St", "Ave", "Rd", "Dr", "Ln", "Way", "Blvd", "Ct", "Pl", "Circle", "Hwy",
];

const ADJECTIVES: &[&str] = &[
    "yellow",
    "happy",
    "silver",
    "brown",
    "purple",
    "heavy",
    "lazy",
    "crazy",
    "tiny",
    "sad",
    "blue",
    "red",
    "white",
    "black",
    "orange",
    "golden",
    "organic",
    "beautiful",
    "angry",
    "big",
];

const ANIMALS: &[&str] = &[
    "peacock",
    "tiger",
    "bear",
    "rabbit",
    "lion",
    "elephant",
    "fish",
    "bird",
    "frog",
    "wolf",
    "swan",
    "koala",
    "panda",
    "goose",
    "leopard",
    "butterfly",
    "gorilla",
    "mouse",
    "dog",
    "cat",
];

const COUNTRIES: &[Country] = &[
    Country {
        name: "United States",
        cities: &[
            ("Billings", "Michigan"),
            ("Fresno", "California"),
            ("Austin", "Texas"),
            ("Columbus", "Ohio"),
            ("Tampa", "Florida"),
            ("Albany", "New York"),
        ],
        phone: "(###) ###-####",
        post_code: "#####",
    },
    Country {
        name: "United Kingdom",
        cities: &[
            ("Leeds", "West Yorkshire"),
            ("Bristol", "Avon"),
            ("York", "North Yorkshire"),
            ("Cambridge", "Cambridgeshire"),
            ("Brighton", "East Sussex"),
        ],
        phone: "0##### ### ####",
        post_code: "AA# #AA",
    },
    Country {
        name: "France",
        cities: &[
            ("Lyon", "Rhône"),
            ("Nantes", "Loire-Atlantique"),
            ("Lille", "Nord"),
            ("Bordeaux", "Gironde"),
            ("Toulouse", "Haute-Garonne"),
        ],
        phone: "0#-##-##-##-##",
        post_code: "#####",
    },
    Country {
        name: "Germany",
        cities: &[
            ("Hamburg", "Hamburg"),
            ("Köln", "Nordrhein-Westfalen"),
            ("München", "Bayern"),
            ("Leipzig", "Sachsen"),
            ("Bremen", "Bremen"),
        ],
        phone: "0###-#######",
        post_code: "#####",
    },
    Country {
        name: "Canada",
        cities: &[
            ("Toronto", "Ontario"),
            ("Montréal", "Québec"),
            ("Calgary", "Alberta"),
            ("Halifax", "Nova Scotia"),
            ("Victoria", "British Columbia"),
        ],
        phone: "A##-###-####",
        post_code: "A#A #A#",
    },
    Country {
        name: "Australia",
        cities: &[
            ("Adelaide", "South Australia"),
            ("Perth", "Western Australia"),
            ("Hobart", "Tasmania"),
            ("Brisbane", "Queensland"),
        ],
        phone: "0#-####-####",
        post_code: "####",
    },
    Country {
        name: "Denmark",
        cities: &[
            ("Aarhus", "Midtjylland"),
            ("Odense", "Syddanmark"),
            ("Aalborg", "Nordjylland"),
            ("København", "Hovedstaden"),
        ],
        phone: "########",
        post_code: "####",
    },
    Country {
        name: "Norway",
        cities: &[
            ("Bergen", "Vestland"),
            ("Trondheim", "Trøndelag"),
            ("Tromsø", "Troms"),
        ],
        phone: "########",
        post_code: "####",
    },
    Country {
        name: "Spain",
        cities: &[
            ("Valencia", "Comunidad Valenciana"),
            ("Sevilla", "Andalucía"),
            ("Bilbao", "País Vasco"),
            ("Zaragoza", "Aragón"),
        ],
        phone: "9##-###-###",
        post_code: "#####",
    },
    Country {
        name: "Netherlands",
        cities: &[
            ("Utrecht", "Utrecht"),
            ("Groningen", "Groningen"),
            ("Eindhoven", "Noord-Brabant"),
            ("Leiden", "Zuid-Holland"),
        ],
        phone: "(0###) ######",
        post_code: "#### AA",
    },
    Country {
        name: "Turkey",
        cities: &[
            ("İzmir", "İzmir"),
            ("Bursa", "Bursa"),
            ("Antalya", "Antalya"),
        ],
        phone: "(###)-###-####",
        post_code: "#####",
    },
    Country {
        name: "India",
        cities: &[
            ("Pune", "Maharashtra"),
            ("Jaipur", "Rajasthan"),
            ("Kochi", "Kerala"),
        ],
        phone: "#########",
        post_code: "######",
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_same_seed_gives_the_same_users() {
        let a = Generator::new(Some("cassflow")).batch(50);
        let b = Generator::new(Some("cassflow")).batch(50);
        assert_eq!(a, b);
        let c = Generator::new(Some("other")).batch(50);
        assert_ne!(a, c);
    }

    #[test]
    fn users_are_varied_and_valid() {
        let users = Generator::new(Some("variety")).batch(2000);
        let ids: HashSet<_> = users.iter().map(|u| u.id).collect();
        assert_eq!(ids.len(), users.len(), "ids repeat");
        let names: HashSet<_> = users.iter().map(|u| &u.first_name).collect();
        let countries: HashSet<_> = users
            .iter()
            .filter_map(|u| u.address.rsplit(", ").next())
            .collect();
        assert!(names.len() > 50, "only {} first names", names.len());
        assert_eq!(countries.len(), COUNTRIES.len());
        for u in &users {
            assert_eq!(u.id.get_version_num(), 4);
            let expected = format!(
                "{}.{}@example.com",
                u.first_name.to_lowercase(),
                u.last_name.to_lowercase()
            );
            assert_eq!(u.email, expected);
            let (back, _) = UserRecord::decode(u.to_json().as_bytes()).unwrap();
            assert_eq!(&back, u, "does not survive the message encoding");
        }
    }
}
