//! The fetch guard: which addresses a download may connect to.
//!
//! A server that downloads whatever URL a client sends can be made to fetch its own network
//! (loopback, the private ranges, cloud metadata services) and publish the answer. The guard
//! refuses every address that is not public, for the URL and for every redirect hop, and the
//! connection goes to the very addresses it checked (a [`GuardedResolver`] answers reqwest's
//! lookups), so a name that resolves differently the second time (DNS rebinding) gains nothing.
//!
//! [`classify`] is pure: an address → the rule that refuses it, if any. Private deployments
//! open it with `--allow-private-urls` or an allow-list (`--allow-url CIDR|HOST`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, LazyLock};

use ipnet::IpNet;
use reqwest::Url;

/// Why an address is not fetched: the special-purpose range it is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressRule {
    Loopback,
    Unspecified,
    /// RFC 1918 (10/8, 172.16/12, 192.168/16).
    Private,
    /// Carrier-grade NAT, 100.64/10.
    SharedNat,
    /// 169.254/16 and fe80::/10, where cloud metadata services answer.
    LinkLocal,
    /// fc00::/7 (and the deprecated site-local fec0::/10).
    UniqueLocal,
    Multicast,
    Broadcast,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32.
    Documentation,
    /// 198.18/15.
    Benchmarking,
    /// IETF protocol assignments, 240/4, NAT64 local use, discard, Teredo, ORCHID.
    Reserved,
}

impl AddressRule {
    /// The rule's name as messages show it.
    pub fn name(self) -> &'static str {
        match self {
            AddressRule::Loopback => "loopback",
            AddressRule::Unspecified => "unspecified",
            AddressRule::Private => "private (RFC 1918)",
            AddressRule::SharedNat => "shared (carrier-grade NAT)",
            AddressRule::LinkLocal => "link-local",
            AddressRule::UniqueLocal => "unique-local",
            AddressRule::Multicast => "multicast",
            AddressRule::Broadcast => "broadcast",
            AddressRule::Documentation => "documentation",
            AddressRule::Benchmarking => "benchmarking",
            AddressRule::Reserved => "reserved",
        }
    }
}

/// The special-purpose ranges (IANA registries), most specific first where they nest.
static RANGES: LazyLock<Vec<(IpNet, AddressRule)>> = LazyLock::new(|| {
    use AddressRule::*;
    [
        ("0.0.0.0/8", Unspecified),
        ("10.0.0.0/8", Private),
        ("100.64.0.0/10", SharedNat),
        ("127.0.0.0/8", Loopback),
        ("169.254.0.0/16", LinkLocal),
        ("172.16.0.0/12", Private),
        ("192.0.0.0/24", Reserved),
        ("192.0.2.0/24", Documentation),
        ("192.88.99.0/24", Reserved),
        ("192.168.0.0/16", Private),
        ("198.18.0.0/15", Benchmarking),
        ("198.51.100.0/24", Documentation),
        ("203.0.113.0/24", Documentation),
        ("224.0.0.0/4", Multicast),
        ("255.255.255.255/32", Broadcast),
        ("240.0.0.0/4", Reserved),
        ("::/128", Unspecified),
        ("::1/128", Loopback),
        ("64:ff9b:1::/48", Reserved),
        ("100::/64", Reserved),
        ("2001::/32", Reserved),
        ("2001:10::/28", Reserved),
        ("2001:20::/28", Reserved),
        ("2001:db8::/32", Documentation),
        ("fc00::/7", UniqueLocal),
        ("fe80::/10", LinkLocal),
        ("fec0::/10", UniqueLocal),
        ("ff00::/8", Multicast),
    ]
    .into_iter()
    .map(|(net, rule)| (net.parse().expect("a valid CIDR in the table"), rule))
    .collect()
});

/// The IPv4 address an IPv6 one carries, for the encodings that reach an IPv4 host:
/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`)
/// and 6to4 (`2002:AABB:CCDD::`).
fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        // `::` and `::1` are IPv6's own; other `::a.b.c.d` are the deprecated compatible form.
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 || lo > 1 => Some(low),
        [0x2002, a, b, ..] => Some(Ipv4Addr::new(
            (a >> 8) as u8,
            a as u8,
            (b >> 8) as u8,
            b as u8,
        )),
        _ => None,
    }
}

/// The rule that refuses `ip`, or `None` for a public address.
pub fn classify(ip: IpAddr) -> Option<AddressRule> {
    if let IpAddr::V6(v6) = ip {
        if let Some(v4) = embedded_ipv4(v6) {
            return classify(IpAddr::V4(v4));
        }
    }
    RANGES
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, rule)| *rule)
}

/// A download refused by the guard: the rule and how to allow it. Never names the address.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refusal {
    #[error("it points at a {} address, which this server does not fetch (a private deployment can allow it with --allow-private-urls or --allow-url CIDR|HOST)", .0.name())]
    Address(AddressRule),
    #[error("a redirect leads to a {0} URL: only http and https are fetched")]
    Scheme(String),
    #[error("it has no host")]
    NoHost,
    #[error("its host name does not resolve")]
    Unresolved,
    #[error("it redirects more than {0} times")]
    TooManyRedirects(usize),
}

/// Which addresses downloads may reach.
#[derive(Debug, Clone, Default)]
pub struct UrlGuard {
    /// Every address is allowed (`--allow-private-urls`).
    pub allow_private: bool,
    /// Ranges allowed although special (`--allow-url CIDR`).
    pub allowed_nets: Vec<IpNet>,
    /// Host names whose addresses are allowed, lower case (`--allow-url HOST`).
    pub allowed_hosts: Vec<String>,
}

/// An `--allow-url` entry that is neither a CIDR, an address nor a host name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("--allow-url {0:?}: give a CIDR (10.0.0.0/8), an address or a host name")]
pub struct BadAllowEntry(pub String);

impl UrlGuard {
    /// A guard that allows everything: for a command-line user fetching their own URL.
    pub fn allow_all() -> Self {
        UrlGuard {
            allow_private: true,
            ..Default::default()
        }
    }

    /// Adds an `--allow-url` entry: a CIDR, an address or a host name.
    pub fn allow(&mut self, entry: &str) -> Result<(), BadAllowEntry> {
        let entry = entry.trim();
        if let Ok(net) = entry.parse::<IpNet>() {
            self.allowed_nets.push(net);
        } else if let Ok(ip) = entry.parse::<IpAddr>() {
            self.allowed_nets.push(IpNet::from(ip));
        } else if !entry.is_empty()
            && entry
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            self.allowed_hosts.push(entry.to_ascii_lowercase());
        } else {
            return Err(BadAllowEntry(entry.to_owned()));
        }
        Ok(())
    }

    fn host_allowed(&self, host: &str) -> bool {
        self.allowed_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host.trim_end_matches('.')))
    }

    /// Checks one address `host` resolved to.
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), Refusal> {
        if self.allow_private
            || self.host_allowed(host)
            || self.allowed_nets.iter().any(|n| n.contains(&ip))
        {
            return Ok(());
        }
        match classify(ip) {
            Some(rule) => Err(Refusal::Address(rule)),
            None => Ok(()),
        }
    }

    /// Checks what can be checked of a URL before any lookup: its scheme and, when the host is
    /// an address literal (in any spelling the URL parser accepts), that address.
    pub fn check_url(&self, url: &Url) -> Result<(), Refusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal::Scheme(url.scheme().to_owned()));
        }
        match url.host() {
            None => Err(Refusal::NoHost),
            Some(url::Host::Ipv4(ip)) => self.check_ip("", IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_ip("", IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => Ok(()),
        }
    }

    /// Resolves `host` and returns its addresses when every one passes (a name with one
    /// refused address is refused whole).
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Refusal> {
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| Refusal::Unresolved)?
            .collect();
        if addresses.is_empty() {
            return Err(Refusal::Unresolved);
        }
        for address in &addresses {
            self.check_ip(host, address.ip())?;
        }
        Ok(addresses)
    }
}

/// reqwest's name lookups through the guard: the client connects only to checked addresses.
#[derive(Debug, Clone)]
pub struct GuardedResolver(pub Arc<UrlGuard>);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.0.clone();
        Box::pin(async move {
            let addresses = guard.resolve(name.as_str(), 0).await?;
            let addresses: reqwest::dns::Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

/// The guard's refusal inside an error's source chain (reqwest wraps what the resolver and the
/// redirect policy return).
pub fn find_refusal(error: &(dyn std::error::Error + 'static)) -> Option<Refusal> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(refusal) = e.downcast_ref::<Refusal>() {
            return Some(refusal.clone());
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(url: &str) -> Option<AddressRule> {
        match UrlGuard::default().check_url(&Url::parse(url).unwrap()) {
            Ok(()) => None,
            Err(Refusal::Address(rule)) => Some(rule),
            Err(other) => panic!("{url}: {other}"),
        }
    }

    #[test]
    fn every_spelling_of_loopback_is_refused() {
        for url in [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://0x7f000001/",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[64:ff9b::7f00:1]/",
            "http://[2002:7f00:1::]/",
        ] {
            assert_eq!(rule(url), Some(AddressRule::Loopback), "{url}");
        }
        assert_eq!(rule("http://0.0.0.0:5001/"), Some(AddressRule::Unspecified));
        assert_eq!(rule("http://[::]/"), Some(AddressRule::Unspecified));
    }

    #[test]
    fn special_ranges_are_refused_and_public_ones_pass() {
        let cases = [
            ("10.1.2.3", Some(AddressRule::Private)),
            ("172.31.255.255", Some(AddressRule::Private)),
            ("172.32.0.1", None),
            ("192.168.1.1", Some(AddressRule::Private)),
            ("100.64.0.1", Some(AddressRule::SharedNat)),
            ("100.128.0.1", None),
            ("169.254.169.254", Some(AddressRule::LinkLocal)),
            ("224.0.0.251", Some(AddressRule::Multicast)),
            ("255.255.255.255", Some(AddressRule::Broadcast)),
            ("192.0.2.7", Some(AddressRule::Documentation)),
            ("198.18.0.1", Some(AddressRule::Benchmarking)),
            ("250.0.0.1", Some(AddressRule::Reserved)),
            ("8.8.8.8", None),
            ("fd00::1", Some(AddressRule::UniqueLocal)),
            ("fe80::1", Some(AddressRule::LinkLocal)),
            ("ff02::1", Some(AddressRule::Multicast)),
            ("2001:db8::1", Some(AddressRule::Documentation)),
            ("::ffff:10.0.0.1", Some(AddressRule::Private)),
            ("::ffff:169.254.169.254", Some(AddressRule::LinkLocal)),
            ("::ffff:8.8.8.8", None),
            ("2606:4700::1111", None),
        ];
        for (ip, expected) in cases {
            assert_eq!(classify(ip.parse().unwrap()), expected, "{ip}");
        }
    }

    #[test]
    fn allow_lists_open_what_they_name() {
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let mut guard = UrlGuard::default();
        assert!(guard.check_ip("localhost", loopback).is_err());
        guard.allow("127.0.0.0/8").unwrap();
        assert!(guard.check_ip("x", loopback).is_ok());
        assert!(guard.check_ip("x", "10.0.0.1".parse().unwrap()).is_err());
        let mut by_host = UrlGuard::default();
        by_host.allow("Media.Internal").unwrap();
        assert!(by_host
            .check_ip("media.internal", "10.0.0.1".parse().unwrap())
            .is_ok());
        assert!(by_host.allow("a b").is_err());
        assert!(UrlGuard::allow_all().check_ip("", loopback).is_ok());
    }

    #[test]
    fn refusals_name_the_rule_and_the_flag_not_the_address() {
        let text = Refusal::Address(AddressRule::LinkLocal).to_string();
        assert!(text.contains("link-local") && text.contains("--allow-private-urls"));
        assert!(!text.contains("169.254"));
        assert!(matches!(
            UrlGuard::default().check_url(&Url::parse("ftp://x/").unwrap()),
            Err(Refusal::Scheme(_))
        ));
    }
}
