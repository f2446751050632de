"""Deterministic generator of crawled company websites with exact ground truth.

Each `SampleSite` is one company's crawl: a landing page, about, product,
investor, news and contact pages written as real-looking prose with numbers
(revenue, employees, founding year, percentages, a table or two), every page
wrapped in the same cookie banner, header, navigation and footer, plus what a
crawler also brings home:
- legal, privacy, cookie, careers, login and sitemap pages (dropped by URL:
  `boilerplate_url`);
- a page with nothing but the shared template around it (`empty`);
- the same product page under a tracking-parameter URL and as a print
  version (`near_duplicate`);
- thin pages: an image gallery of captions, a list of download links, an
  office list, a tag archive: repeated templates (`low_density`);
- one site has a PDF saved among its pages (`not_html`).

The ground truth is built by the same calls that write the HTML: every page's
visible lines (in the order `etl.websites.page_lines` must read them), which
of them are the shared header/footer/navigation, whether the page must be
kept or the reason it must be dropped. Content lines never repeat a template
line or a landing-page line, so the expected kept lines of a page are exactly
its non-template lines (the landing page keeps all of its lines).

Companies are those of `etl.sample_corpus` (same names and company ids for the
same seed and index), so a demo store can hold a company's 10-Ks and its site.
`write_sites` writes one folder per site (`manifest.json` + pages; one site as
a WARC file when warcio is installed), `sites.json` {site: company_id} and,
optionally, `ground_truth.json`; it adds a small site with no company
(read_site must reject it: `no_company`).
"""
from __future__ import annotations

import html as htmlmod
import io
import json
import random
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from etl.sample_corpus import INDUSTRIES, Company, _company

SNAPSHOT = date(2025, 3, 1)
FISCAL_YEAR = 2024
KEPT = "kept"
HTML_TYPE = "text/html; charset=utf-8"
PDF_TYPE = "application/pdf"
WARC_SITE_INDEX = 1  # write_sites writes this company's site as a WARC file
PDF_SITE_INDEX = 0   # this company's crawl saved a PDF among its pages


# --- public types --------------------------------------------------------------------

@dataclass
class SamplePage:
    url: str
    file: str
    html: bytes
    fetched_at: datetime
    kind: str                 # landing, about, product, ..., gallery, legal ...
    expected: str             # "kept" or the drop reason etl.websites must give
    lines: list[str]          # visible lines, in reading order ([] for non-HTML)
    template: list[bool]      # per line: shared header/footer/navigation
    content_type: str = HTML_TYPE

    @property
    def kept_lines(self) -> list[str]:
        """The lines the cleaner must keep if the page is kept."""
        if self.kind == "landing":
            return list(self.lines)
        return [x for x, t in zip(self.lines, self.template) if not t]


@dataclass
class SampleSite:
    site: str
    company_id: str | None
    company_name: str
    pages: list[SamplePage]   # in URL order
    template_lines: list[str]
    snapshot: date
    company_in_manifest: bool = True

    @property
    def landing(self) -> SamplePage:
        return next(p for p in self.pages if p.kind == "landing")

    def expected_kept(self) -> list[str]:
        return [p.url for p in self.pages if p.expected == KEPT]

    def expected_dropped(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for p in self.pages:
            if p.expected != KEPT:
                out.setdefault(p.expected, []).append(p.url)
        return out

    def manifest(self) -> dict:
        return {"site": self.site, "company_id": self.company_id if self.company_in_manifest else None,
                "pages": [{"url": p.url, "file": p.file, "fetched_at": _iso(p.fetched_at)} for p in self.pages]}

    def truth(self) -> dict:
        return {
            "site": self.site, "company_id": self.company_id, "company_name": self.company_name,
            "snapshot": self.snapshot.isoformat(), "template_lines": self.template_lines,
            "expected_kept": self.expected_kept(), "expected_dropped": self.expected_dropped(),
            "pages": [{"url": p.url, "file": p.file, "kind": p.kind, "expected": p.expected,
                       "content_type": p.content_type, "lines": p.lines, "template": p.template,
                       "kept_lines": p.kept_lines if p.expected == KEPT else []} for p in self.pages],
        }


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- page builder ------------------------------------------------------------------------

def _esc(text: str) -> str:
    return htmlmod.escape(text, quote=False)


class _Page:
    """Collects a page's HTML and, for every visible line it writes, the line
    and whether it belongs to the shared template."""

    def __init__(self) -> None:
        self.html: list[str] = []
        self.lines: list[str] = []
        self.template: list[bool] = []
        self.in_template = False

    def raw(self, html: str) -> None:
        """Markup with no visible text."""
        self.html.append(html)

    def el(self, tag: str, text: str, attrs: str = "", inner: str | None = None) -> None:
        """One block element holding one line (`inner`: its HTML when not just the text)."""
        self.html.append(f"<{tag}{attrs}>{inner if inner is not None else _esc(text)}</{tag}>\n")
        self.line(text)

    def line(self, text: str) -> None:
        assert text == " ".join(text.split()) and text, f"line {text!r} must be whitespace-collapsed"
        self.lines.append(text)
        self.template.append(self.in_template)

    def link_item(self, text: str, href: str, attrs: str = "") -> None:
        self.el("li", text, attrs, f'<a href="{href}">{_esc(text)}</a>')

    def table(self, rows: list[list[str]], caption_cls: str = "data") -> None:
        self.raw(f'<table class="{caption_cls}">\n')
        head, *body = rows
        self.raw("<thead><tr>" + "".join(f"<th>{_esc(c)}</th>" for c in head) + "</tr></thead>\n<tbody>\n")
        self.line(" | ".join(head))
        for row in body:
            self.raw("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>\n")
            self.line(" | ".join(row))
        self.raw("</tbody></table>\n")


# --- companies and their catalogs --------------------------------------------------------

@dataclass(frozen=True)
class Product:
    name: str
    slug: str
    pitch: str                       # what it is, one sentence (no digits)
    features: tuple[str, ...]        # feature sentences (no digits)
    specs: tuple[tuple[str, str], ...]


CATALOGS: dict[str, tuple[str, tuple[Product, ...]]] = {
    "industrial": ("Automation that keeps your production lines running", (
        Product("R200 Robotic Work Cell", "r200-work-cell",
                "a compact, pre-engineered cell for machine tending, palletizing and part inspection",
                ("Safety scanners let operators share the floor with the robot without fences.",
                 "A drag-and-drop teach pendant means new parts can be programmed by line staff.",
                 "Quick-change grippers swap between jobs without tools."),
                (("Payload", "25 kg"), ("Reach", "1,450 mm"), ("Repeatability", "0.02 mm"))),
        Product("MC-9 Motion Controller", "mc9-motion-controller",
                "a multi-axis controller that coordinates servo drives, conveyors and vision systems",
                ("Deterministic networking keeps every axis in step, even on long conveyor runs.",
                 "Built-in diagnostics flag worn bearings and loose couplings before they stop the line.",
                 "Open programming interfaces let integrators reuse the code they already have."),
                (("Axes", "32"), ("Cycle time", "250 microseconds"), ("Operating temperature", "0 to 55 degrees"))),
        Product("Lumen Vision System", "lumen-vision",
                "a smart camera and software package that finds defects at full line speed",
                ("Deep-learning inspection models are trained from a few dozen labelled images.",
                 "Results stream to the plant historian so quality teams see trends as they form.",
                 "Ring lights and polarizing filters cope with shiny and curved parts."),
                (("Resolution", "12 megapixels"), ("Frame rate", "120 frames per second"), ("Weight", "410 g"))),
    )),
    "software": ("Payroll, invoicing and compliance in one place", (
        Product("Bluewater Payroll", "payroll",
                "cloud payroll that calculates wages, taxes and benefits for teams of any size",
                ("Employees see pay slips and tax forms on their phones.",
                 "Tax tables update automatically whenever federal, state or local rules change.",
                 "Accountants can review and approve payroll runs for many clients from one dashboard."),
                (("Pay frequencies", "4"), ("States supported", "50"), ("Uptime target", "99.9%"))),
        Product("Bluewater Invoicing", "invoicing",
                "invoicing and collections software that gets small businesses paid faster",
                ("Reminders go out on a schedule the business chooses, in its own voice.",
                 "Customers pay by card or bank transfer straight from the invoice.",
                 "Cash-flow forecasts show which invoices are likely to arrive late."),
                (("Currencies", "38"), ("Average days to payment", "11"), ("Integrations", "120"))),
        Product("Bluewater Comply", "comply",
                "a compliance workspace that tracks filings, licenses and deadlines",
                ("A shared calendar shows every filing deadline across entities and states.",
                 "Documents are versioned and signed inside the workspace.",
                 "Audit trails record who changed what, and when."),
                (("Filing types tracked", "240"), ("Retention", "7 years"), ("Certifications", "SOC 2 Type II"))),
    )),
    "retail": ("Everyday essentials, delivered or ready for pickup", (
        Product("Northwind Marketplace", "marketplace",
                "an online marketplace where shoppers find groceries, apparel and home goods from trusted sellers",
                ("Sellers reach millions of shoppers with fulfillment handled by our network.",
                 "Shoppers compare prices and delivery options on a single page.",
                 "Ratings and verified reviews help customers choose with confidence."),
                (("Sellers", "18,000"), ("Items listed", "42 million"), ("Delivery window", "2 hours"))),
        Product("Northwind Fresh", "fresh",
                "fresh groceries picked in store by trained shoppers and delivered the same day",
                ("Produce is checked by hand, and substitutions are approved by the customer.",
                 "Cold-chain totes keep frozen and chilled food at the right temperature.",
                 "Repeat baskets make the weekly shop a two-minute task."),
                (("Stores offering delivery", "1,120"), ("Average basket", "$86"), ("On-time rate", "97%"))),
        Product("Northwind Plus", "plus-membership",
                "a membership with free delivery, member prices and fuel savings",
                ("Members save on fuel at participating stations.",
                 "Free delivery applies to orders from stores and the marketplace.",
                 "Members get early access to seasonal events."),
                (("Annual fee", "$98"), ("Members", "9.4 million"), ("Renewal rate", "88%"))),
    )),
    "energy": ("Reliable power for homes and businesses", (
        Product("Home Electricity Plans", "home-electricity",
                "fixed and variable electricity plans for households, with clear monthly pricing",
                ("Smart thermostat rewards lower bills on the hottest afternoons.",
                 "Usage alerts arrive before a bill surprises anyone.",
                 "Renewable options match usage with wind and solar certificates."),
                (("Plan lengths", "12 to 36 months"), ("Customers", "2.1 million"), ("Renewable share", "34%"))),
        Product("Natural Gas Service", "natural-gas",
                "safe, dependable natural gas delivery for heating, cooking and industry",
                ("Crews inspect pipelines with drones and in-line sensors.",
                 "Budget billing spreads winter heating costs across the year.",
                 "Business customers can lock prices for the season ahead."),
                (("Pipeline", "48,000 miles"), ("Service area", "390 communities"), ("Leak response", "30 minutes"))),
        Product("Solar Rewards", "solar-rewards",
                "a program that helps customers add rooftop solar and battery storage",
                ("Approved installers handle permits and connection paperwork.",
                 "Credits for exported power appear on the monthly bill.",
                 "Batteries keep essential circuits running during outages."),
                (("Installations", "64,000"), ("Average system", "7.2 kW"), ("Rebate", "$1,500"))),
    )),
    "food": ("Good food from brands families trust", (
        Product("Granite Harvest Cereals", "harvest-cereals",
                "whole-grain breakfast cereals made with oats, wheat and real fruit",
                ("Recipes were reformulated to cut added sugar across the range.",
                 "Oats are sourced from farms in regenerative agriculture programs.",
                 "Recyclable liners replaced plastic bags in every box."),
                (("Varieties", "14"), ("Whole grain per serving", "32 g"), ("Households reached", "21 million"))),
        Product("Trailside Snacks", "trailside-snacks",
                "nut bars, trail mixes and crackers for lunchboxes and long hikes",
                ("Bars are baked in small batches for a crunchy texture.",
                 "Allergen-free lines are made in dedicated facilities.",
                 "Multipacks are sized for school weeks."),
                (("Protein per bar", "10 g"), ("Flavors", "22"), ("Retail doors", "61,000"))),
        Product("Evening Table Frozen Meals", "evening-table",
                "frozen meals cooked by chefs and ready in minutes",
                ("Vegetables are flash-frozen within hours of harvest.",
                 "Meals are portioned to the guidance of registered dietitians.",
                 "New recipes are tested with home cooks before launch."),
                (("Recipes", "48"), ("Calories per meal", "320 to 540"), ("Cook time", "6 minutes"))),
    )),
    "semiconductor": ("Chips that power cars, factories and clouds", (
        Product("OrbitPower Regulators", "orbitpower",
                "power management chips that convert and regulate voltages with little wasted heat",
                ("Integrated protection guards against surges from motors and batteries.",
                 "Tiny packages free up board space in crowded designs.",
                 "Reference designs shorten time to market for customers."),
                (("Efficiency", "96%"), ("Input voltage", "4.5 to 60 V"), ("Qualification", "AEC-Q100"))),
        Product("OrbitSense Sensors", "orbitsense",
                "current, temperature and position sensors for vehicles and industrial machines",
                ("Factory calibration removes the need for trimming on the customer line.",
                 "Isolation barriers protect low-voltage logic from high-voltage circuits.",
                 "Functional safety documentation supports automotive certification."),
                (("Accuracy", "0.5%"), ("Temperature range", "-40 to 150 degrees"), ("Channels", "8"))),
        Product("OrbitLink Transceivers", "orbitlink",
                "wired and wireless connectivity chips for industrial networks",
                ("Time-sensitive networking keeps control loops synchronized.",
                 "Low-power modes stretch battery life in remote sensors.",
                 "Security engines encrypt traffic without slowing it down."),
                (("Data rate", "1 Gbps"), ("Range", "400 m"), ("Standby current", "12 microamps"))),
    )),
    "health": ("Answers from the lab, when they matter", (
        Product("Cedar Diagnostics", "diagnostics",
                "clinical laboratory testing for hospitals, physicians and employers",
                ("Couriers collect samples from clinics several times a day.",
                 "Results post to the electronic health record as soon as they are verified.",
                 "Specialists are available to discuss complex results with physicians."),
                (("Tests offered", "3,400"), ("Patient service centers", "860"), ("Median turnaround", "24 hours"))),
        Product("Cedar Insight Analytics", "insight-analytics",
                "analytics that help health systems spot gaps in care and manage risk",
                ("Dashboards flag patients overdue for screenings.",
                 "Models predict readmission risk from claims and lab data.",
                 "Benchmarks compare performance with similar providers."),
                (("Health systems served", "210"), ("Covered lives", "18 million"), ("Data sources", "65"))),
        Product("Cedar Care Programs", "care-programs",
                "care management programs for employers and health plans",
                ("Nurses coach members with chronic conditions by phone and video.",
                 "At-home test kits make screening easier for busy members.",
                 "Reports show employers how engagement translates into savings."),
                (("Members enrolled", "1.3 million"), ("Engagement rate", "42%"), ("Nurse coaches", "520"))),
    )),
    "logistics": ("Freight that arrives on time, every time", (
        Product("Summit Truckload", "truckload",
                "dedicated and one-way truckload service across North America",
                ("Drivers run modern tractors with collision-avoidance systems.",
                 "Live tracking shows each load's position and arrival estimate.",
                 "Drop-trailer pools let shippers load on their own schedule."),
                (("Tractors", "7,800"), ("Trailers", "26,000"), ("On-time delivery", "98.2%"))),
        Product("Summit Warehousing", "warehousing",
                "warehousing and fulfillment with inventory visibility down to the shelf",
                ("Robotic picking handles seasonal peaks without overtime.",
                 "Inventory counts sync to customer systems every hour.",
                 "Value-added services include kitting, labeling and returns."),
                (("Warehouse space", "31 million square feet"), ("Sites", "112"), ("Order accuracy", "99.7%"))),
        Product("Summit Brokerage", "brokerage",
                "freight brokerage that matches loads with vetted carriers",
                ("Carriers are screened for safety, insurance and performance.",
                 "Instant quotes cover truckload, flatbed and refrigerated freight.",
                 "A single invoice covers multi-carrier shipments."),
                (("Carriers in network", "64,000"), ("Loads per day", "9,500"), ("Quote time", "30 seconds"))),
    )),
}

VALUES = (
    "Put customers first and measure what matters to them.",
    "Act with integrity, especially when no one is watching.",
    "Keep people safe in everything we design, build and deliver.",
    "Learn fast, share what we learn and improve every day.",
    "Respect the communities and the environment where we work.",
    "Own the result and keep our commitments.",
)
FIRST_NAMES = ("Maria", "James", "Aisha", "Daniel", "Priya", "Thomas", "Elena", "Marcus", "Grace", "Kenji",
               "Olivia", "Samuel", "Fatima", "Lucas", "Hannah", "Victor")
LAST_NAMES = ("Alvarez", "Brennan", "Chen", "Dubois", "Okafor", "Fischer", "Gupta", "Haddad", "Ivanova",
              "Johansson", "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Osei", "Petrov")
ROLES = ("Chief Executive Officer", "Chief Financial Officer", "Chief Operating Officer", "Chief Technology Officer",
         "General Counsel", "Chief People Officer")
CITIES = ("Atlanta", "Boston", "Chicago", "Dallas", "Denver", "Detroit", "Houston", "Indianapolis", "Kansas City",
          "Los Angeles", "Memphis", "Miami", "Milwaukee", "Minneapolis", "Nashville", "New York", "Philadelphia",
          "Phoenix", "Pittsburgh", "Portland", "Raleigh", "Salt Lake City", "San Diego", "Seattle", "St. Louis",
          "Tampa", "Toronto", "Mexico City", "Monterrey", "Vancouver")
STREETS = ("Lakeside Avenue", "Commerce Street", "Market Street", "Riverfront Drive", "Innovation Way", "Main Street")
GALLERY_VIEWS = ("front view", "side view", "rear view", "detail view")
DOC_TYPES = ("datasheet", "user manual", "installation guide", "safety sheet", "brochure", "CAD drawings")


@dataclass
class _Co:
    company: Company | None
    name: str
    short: str
    host: str
    industry: str
    city: str
    founded: int
    employees: int
    revenue_musd: int          # fiscal-year revenue, millions of USD
    growth_pct: float
    intl_pct: int
    countries: int
    ticker: str | None
    exchange: str | None
    rng: random.Random


def _money_millions(m: int) -> str:
    """$4.2 billion / $850 million, as a company website writes revenue."""
    if m >= 1000:
        return f"${m / 1000:.1f} billion"
    return f"${m:,} million"


def _co_for(company: Company, seed: int) -> _Co:
    rng = random.Random(f"{seed}/site/{company.ticker}")
    words = company.name.replace(",", "").split()
    short = " ".join(words[:2])
    host = "-".join(w.lower() for w in words[:2]) + ".example"
    revenue = company.revenue * 10 ** company.scale // 1_000_000
    revenue = max(revenue, rng.randint(300, 900))
    return _Co(company, company.name, short, host, company.profile.industry, company.profile.city.split(",")[0],
               company.founded, max(400, round(revenue * 1_000_000 / rng.uniform(250_000, 600_000), -2)), revenue,
               round(rng.uniform(2.0, 14.0), 1), rng.randint(18, 62), rng.randint(12, 120), company.ticker,
               company.profile.exchange, rng)


# --- template -----------------------------------------------------------------------------

def _nav(co: _Co) -> list[tuple[str, str]]:
    about = co.rng.choice(("About us", "Company"))
    return [("Home", "/"), ("Products", "/products"), (about, "/about"), ("Investors", "/investors"),
            ("News", "/news"), ("Contact", "/contact")]


def _legal_links(co: _Co) -> list[tuple[str, str]]:
    return [("Privacy Policy", co.rng.choice(("/privacy-policy", "/legal/privacy"))),
            ("Cookie Policy", "/cookie-policy"), ("Terms of Use", "/legal/terms-of-use"),
            ("Careers", "/careers"), ("Sitemap", "/sitemap"), ("Customer login", "/login")]


@dataclass
class _Template:
    nav: list[tuple[str, str]]
    legal: list[tuple[str, str]]
    address: str
    lines: list[str] = field(default_factory=list)


def _header(p: _Page, co: _Co, t: _Template, title: str) -> None:
    p.in_template = True
    p.raw('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
          f'<title>{_esc(title)} | {_esc(co.short)}</title>\n'
          '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
          '<link rel="stylesheet" href="/static/css/site.min.css">\n'
          '<script async src="/static/js/analytics.js"></script>\n'
          "<script>window.dataLayer = window.dataLayer || []; function gtag(){dataLayer.push(arguments);}</script>\n"
          "<style>.cookie-banner{position:fixed;bottom:0}.visually-hidden{display:none}</style>\n</head>\n<body>\n"
          '<div class="cookie-banner" role="dialog" aria-label="Cookie consent">\n')
    p.el("p", "We use cookies to improve your experience and to measure site traffic. "
              "By continuing to browse, you agree to our use of cookies.")
    p.el("p", "Accept all cookies Manage preferences", ' class="actions"',
         '<button type="button">Accept all cookies</button> <button type="button">Manage preferences</button>')
    p.raw('</div>\n<header class="site-header">\n')
    p.el("div", "Skip to main content", ' class="skip"', '<a href="#main">Skip to main content</a>')
    p.el("div", co.short, ' class="brand"',
         f'<a href="/"><img src="/static/img/logo.svg" alt="{_esc(co.short)} logo" width="160">{_esc(co.short)}</a>')
    p.raw('<nav aria-label="Main">\n<ul class="menu">\n')
    for text, href in t.nav:
        p.link_item(text, href)
    p.raw("</ul>\n</nav>\n")
    p.el("form", "Search", ' class="search" action="/search" role="search"',
         '<input id="q" type="search" name="q" placeholder="Search" aria-label="Search this site">'
         '<button type="submit">Search</button>')
    p.raw('</header>\n<main id="main">\n')
    p.in_template = False


def _footer(p: _Page, co: _Co, t: _Template) -> None:
    p.raw("</main>\n")
    p.in_template = True
    p.raw('<footer class="site-footer">\n<div class="newsletter">\n')
    p.el("p", f"Subscribe to the {co.short} newsletter for product news, events and customer stories.")
    p.el("form", "Subscribe", ' action="/newsletter"',
         '<input type="email" name="email" placeholder="Email address"><button type="submit">Subscribe</button>')
    p.raw('</div>\n<ul class="legal">\n')
    for text, href in t.legal:
        p.link_item(text, href)
    p.raw('</ul>\n<ul class="social">\n')
    for net in ("LinkedIn", "YouTube", "Instagram"):
        p.link_item(f"Follow us on {net}", f"https://www.{net.lower()}.example/{co.host.split('.')[0]}")
    p.raw("</ul>\n")
    p.el("address", t.address)
    p.el("p", f"© {SNAPSHOT.year} {co.name.rstrip('.')}. All rights reserved.", ' class="copyright"')
    p.raw("</footer>\n")
    p.in_template = False
    p.raw('<div class="modal" style="display:none"><p>Your session is about to expire.</p></div>\n'
          '<script>document.querySelector(".cookie-banner button").onclick=function(){};</script>\n</body>\n</html>\n')


# --- pages ------------------------------------------------------------------------------

def _breadcrumbs(p: _Page, trail: list[str]) -> None:
    p.el("nav", " › ".join(trail), ' class="breadcrumbs" aria-label="Breadcrumb"',
         " › ".join(f'<a href="#">{_esc(x)}</a>' for x in trail[:-1]) + f" › {_esc(trail[-1])}")


def _landing(p: _Page, co: _Co, products: tuple[Product, ...], tagline: str, news: list[tuple[str, str]]) -> None:
    rng = co.rng
    p.el("h1", tagline)
    p.el("p", f"For more than {SNAPSHOT.year - co.founded - rng.randint(1, 5)} years, {co.name} has served "
              f"{INDUSTRIES[co.industry].customers} from its home in {co.city}. Today our "
              f"{co.employees:,} people work with customers in {co.countries} countries.")
    p.el("p", f"Explore our solutions Talk to an expert", ' class="cta"',
         '<a class="button" href="/products">Explore our solutions</a> '
         '<a class="button" href="/contact">Talk to an expert</a>')
    p.el("h2", "What we offer")
    for prod in products:
        p.el("p", f"Discover {prod.name}: {prod.pitch}.", ' class="teaser"')
    p.el("h2", "By the numbers")
    p.raw('<ul class="stats">\n')
    p.el("li", f"{_money_millions(co.revenue_musd)} in revenue in fiscal {FISCAL_YEAR}")
    p.el("li", f"{co.employees:,} employees worldwide")
    p.el("li", f"{co.intl_pct}% of sales outside the United States")
    p.raw("</ul>\n")
    p.el("h2", "Latest news")
    for title, href in news:
        p.el("p", f"Press release: {title}", ' class="news-teaser"',
             f'Press release: <a href="{href}">{_esc(title)}</a>')


def _about(p: _Page, co: _Co) -> None:
    rng = co.rng
    ind = INDUSTRIES[co.industry]
    _breadcrumbs(p, ["Home", "About"])
    p.el("h1", f"About {co.short}")
    p.el("p", f"{co.name} was founded in {co.founded} in {co.city}. The company {ind.what}. What began as a small "
              f"team with one customer has grown into a business that serves {ind.customers}.")
    p.el("p", f"In fiscal {FISCAL_YEAR} our revenue was {_money_millions(co.revenue_musd)}, an increase of "
              f"{co.growth_pct}% over the prior year, and {co.intl_pct}% of it came from customers outside the "
              f"United States. We employ about {co.employees:,} people and operate "
              f"{rng.randint(6, 60)} {ind.facility} in {co.countries} countries.")
    p.el("p", f"We reinvest in the business every year: research and development spending reached "
              f"{rng.randint(3, 9)}.{rng.randint(0, 9)}% of sales, and more than {rng.randint(20, 45)}% of revenue "
              f"now comes from offerings introduced in the last five years.")
    p.el("h2", "Our values")
    p.raw('<ul class="values">\n')
    for v in rng.sample(VALUES, 4):
        p.el("li", v)
    p.raw("</ul>\n")
    p.el("h2", "Leadership team")
    firsts, lasts = rng.sample(FIRST_NAMES, 4), rng.sample(LAST_NAMES, 4)
    p.raw('<ul class="leaders">\n')
    for f_, l_, role in zip(firsts, lasts, ROLES):
        p.el("li", f"{f_} {l_}, {role}")
    p.raw("</ul>\n")
    p.el("h2", "Sustainability")
    p.el("p", f"We have cut the greenhouse gas emissions of our own operations by {rng.randint(18, 46)}% since "
              f"{rng.randint(2015, 2019)}, and {rng.randint(40, 90)}% of the electricity we buy now comes from "
              f"renewable sources. Our goal is net-zero operations by {rng.choice((2035, 2040, 2045))}.")


def _products_index(p: _Page, co: _Co, products: tuple[Product, ...]) -> None:
    _breadcrumbs(p, ["Home", "Products"])
    p.el("h1", "Products and services")
    p.el("p", f"Every {co.short} offering is designed around one question: what will make our customers more "
              f"successful next year? Choose a product below to learn how it works, what it costs to run and "
              f"how customers use it.")
    for prod in products:
        p.el("h2", prod.name, inner=f'<a href="/products/{prod.slug}">{_esc(prod.name)}</a>')
        p.el("p", f"{prod.name} is {prod.pitch}. {prod.features[0]}")


_PRODUCT_SENTENCES = (
    "Since its launch in {launch}, {name} has been adopted by more than {adopters} customers in {countries} countries.",
    "Customers who switched to {name} report an average cost reduction of {saving}% in the first year, according to "
    "a survey of {surveyed} accounts.",
    "Every order includes onboarding by a dedicated specialist, remote monitoring and a warranty of {warranty} months.",
    "{name} is designed, tested and supported by our teams in {city}, with service partners on {continents} "
    "continents.",
    "Most customers recover their investment within {payback} months, and {renewal}% of them renew or expand their "
    "contracts.",
    "The latest release, shipped in {month} {year}, adds the improvements our user community asked for most.",
    "Our support engineers answer {answered}% of requests within one business day.",
)
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def _product(p: _Page, co: _Co, prod: Product, print_version: bool = False) -> None:
    rng = random.Random(f"{co.host}/{prod.slug}")  # same content for every copy of the page
    _breadcrumbs(p, ["Home", "Products", prod.name])
    p.el("h1", prod.name)
    p.el("p", f"{prod.name} is {prod.pitch}. It helps {INDUSTRIES[co.industry].customers} do more with less.")
    values = dict(launch=rng.randint(2008, 2021), name=prod.name, adopters=f"{rng.randint(1200, 48000):,}",
                  countries=rng.randint(8, 90), saving=rng.randint(8, 31), surveyed=rng.randint(150, 900),
                  warranty=rng.choice((12, 24, 36)), city=co.city, continents=rng.randint(3, 6),
                  payback=rng.randint(6, 30), renewal=rng.randint(82, 97), month=rng.choice(_MONTHS),
                  year=rng.choice((2024, 2025)), answered=rng.randint(85, 99))
    sentences = [s.format(**values) for s in rng.sample(_PRODUCT_SENTENCES, 5)]
    p.el("p", " ".join(sentences[:3]))
    p.el("h2", "Key features")
    p.raw('<ul class="features">\n')
    for f_ in prod.features:
        p.el("li", f_)
    p.raw("</ul>\n")
    p.el("p", " ".join(sentences[3:]))
    p.el("h2", "Specifications")
    p.table([["Specification", "Value"], *[[a, b] for a, b in prod.specs]])
    if print_version:
        p.el("p", f"Printed from {co.host}. Prices and specifications are subject to change.", ' class="print-note"')


def _investors(p: _Page, co: _Co) -> None:
    rng = co.rng
    _breadcrumbs(p, ["Home", "Investors"])
    p.el("h1", "Investor relations")
    rev = [co.revenue_musd]
    for _ in range(2):
        rev.append(round(rev[-1] / (1 + rng.uniform(0.02, 0.12))))
    margin = rng.uniform(9, 24)
    listing = (f"{co.name} shares trade on the {co.exchange} under the symbol {co.ticker}. "
               if co.ticker else "")
    p.el("p", f"{listing}In fiscal {FISCAL_YEAR} we grew revenue {co.growth_pct}% to "
              f"{_money_millions(co.revenue_musd)} and delivered an operating margin of {margin:.1f}%.")
    p.el("p", f"We returned {_money_millions(max(20, co.revenue_musd * rng.randint(4, 12) // 100))} to shareholders "
              f"through dividends and share repurchases, and ended the year with "
              f"{_money_millions(max(30, co.revenue_musd * rng.randint(8, 25) // 100))} of cash.")
    p.el("h2", "Financial highlights")
    p.table([["Fiscal year", "Revenue", "Growth"],
             *[[str(FISCAL_YEAR - k), _money_millions(r),
                f"{(r / rev[k + 1] - 1) * 100:.1f}%" if k + 1 < len(rev) else "n/a"] for k, r in enumerate(rev)]])
    p.el("p", f"Our next earnings call is scheduled for {rng.choice(_MONTHS[3:6])} {rng.randint(2, 28)}, "
              f"{SNAPSHOT.year}. Annual reports and filings are available from the Securities and Exchange "
              f"Commission.")


def _news(p: _Page, co: _Co, title: str, kind: int) -> None:
    rng = co.rng
    ind = INDUSTRIES[co.industry]
    day = SNAPSHOT - timedelta(days=rng.randint(10, 80))
    _breadcrumbs(p, ["Home", "News", title])
    p.el("h1", title)
    p.el("p", f"{day:%B} {day.day}, {day.year}", ' class="dateline"', f"<time>{day:%B} {day.day}, {day.year}</time>")
    if kind == 0:
        invest = rng.randint(40, 400)
        jobs = rng.randint(120, 900)
        city = rng.choice(CITIES)
        p.el("p", f"{co.name} today announced an investment of ${invest} million in a new facility in {city}, "
                  f"which will create about {jobs} jobs when it reaches full operation in {SNAPSHOT.year + 1}.")
        p.el("p", f"The site adds capacity for {ind.products} and brings the company closer to customers in the "
                  f"region. Construction begins this spring on a parcel of {rng.randint(20, 140)} acres.")
        p.el("p", f"“This investment reflects the demand we see from {ind.customers},” said "
                  f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}, chief executive officer. “We expect the new "
                  f"site to run on {rng.randint(60, 100)}% renewable electricity from the first day.”")
    else:
        q4 = co.revenue_musd * rng.randint(24, 28) // 100
        p.el("p", f"{co.name} reported fourth-quarter revenue of {_money_millions(q4)}, up "
                  f"{rng.uniform(2, 15):.1f}% from a year earlier, and full-year revenue of "
                  f"{_money_millions(co.revenue_musd)}.")
        p.el("p", f"Gross margin for the quarter was {rng.uniform(28, 62):.1f}%, and operating cash flow for the "
                  f"year reached {_money_millions(max(25, co.revenue_musd * rng.randint(8, 18) // 100))}.")
        p.el("p", f"For fiscal {FISCAL_YEAR + 1}, the company expects revenue growth of {rng.randint(3, 6)}% to "
                  f"{rng.randint(7, 11)}%, driven by new customers and higher demand for {ind.products}.")


def _contact(p: _Page, co: _Co, street_no: int, street: str) -> None:
    _breadcrumbs(p, ["Home", "Contact"])
    p.el("h1", "Talk to our team")
    p.el("p", f"Headquarters: {co.name}, {street_no:,} {street}, {co.city}")
    p.el("p", f"Sales inquiries: sales@{co.host}")
    p.el("p", f"Media inquiries: press@{co.host}")
    p.el("p", "Customer support is available around the clock, every day of the year, by chat and by phone.")


def _newsletter_confirm(p: _Page, co: _Co) -> None:
    # Only what the landing page also shows: nothing is left after the diff.
    p.el("p", f"Subscribe to the {co.short} newsletter for product news, events and customer stories.")


def _gallery(p: _Page, co: _Co, products: tuple[Product, ...]) -> None:
    p.el("h1", "Photo gallery")
    total = 48
    k = 0
    for prod in products:
        for rep in range(total // (len(products) * len(GALLERY_VIEWS))):
            for view in GALLERY_VIEWS:
                k += 1
                p.raw(f'<figure class="thumb"><a href="/static/img/gallery/{k}.jpg">'
                      f'<img src="/static/img/gallery/{k}-thumb.jpg" alt="{_esc(prod.name)}"></a>\n')
                p.el("figcaption", f"{prod.name}, {view}. Photo {k} of {total}. Click to enlarge.")
                p.raw("</figure>\n")


def _downloads(p: _Page, co: _Co, products: tuple[Product, ...]) -> None:
    rng = random.Random(f"{co.host}/downloads")
    p.el("h1", "Downloads")
    p.raw('<ul class="downloads">\n')
    for prod in products:
        for doc in DOC_TYPES:
            size = rng.randint(1, 9)
            for lang in ("English", "Spanish", "French"):
                p.link_item(f"{prod.name} {doc} (PDF, {size} MB, {lang}) Download",
                            f"/static/docs/{lang[:2].lower()}/{prod.slug}-{doc.replace(' ', '-')}.pdf")
    p.raw("</ul>\n")


def _locations(p: _Page, co: _Co) -> None:
    rng = random.Random(f"{co.host}/locations")
    p.el("h1", "Our locations")
    for city in rng.sample(CITIES, 20):
        p.el("h3", f"{city} sales office")
        p.el("p", f"{co.short} {city} sales office. Opening hours: Monday to Friday, 8 am to 5 pm. "
                  f"Visits by appointment only. Get directions")


def _tag_archive(p: _Page, co: _Co, news: list[tuple[str, str]]) -> None:
    p.el("h1", "Posts tagged: company news")
    for k in range(16):
        title = news[k % len(news)][0]
        p.el("h3", title, ' class="card-title"', f'<a href="{news[k % len(news)][1]}">{_esc(title)}</a>')
        p.el("p", f"Posted in Company news by the {co.short} newsroom. 3 min read. Read more")


_LEGAL_PARAS = (
    "This policy explains what personal information we collect when you visit our websites, how we use it, "
    "with whom we share it and the choices you have.",
    "We collect information you give us, such as your name and email address when you subscribe to our "
    "newsletter, and information collected automatically, such as your browser type and pages visited.",
    "You may ask us to access, correct or delete your personal information by contacting our privacy office.",
    "These terms govern your use of this website. By using the site you agree to them; if you do not agree, "
    "please do not use the site.",
    "All content on this site is protected by copyright and may not be reproduced without our written permission.",
    "Cookies are small text files stored on your device. Strictly necessary cookies make the site work; "
    "analytics cookies help us understand how visitors use it.",
)


def _legal(p: _Page, co: _Co, title: str) -> None:
    p.el("h1", title)
    for para in co.rng.sample(_LEGAL_PARAS, 4):
        p.el("p", para)
    p.el("p", f"Last updated {co.rng.choice(_MONTHS)} {co.rng.randint(1, 28)}, {SNAPSHOT.year - 1}.")


def _careers(p: _Page, co: _Co, openings: bool) -> None:
    p.el("h1", "Open positions" if openings else f"Careers at {co.short}")
    if openings:
        for k in range(12):
            role = co.rng.choice(("Field Service Engineer", "Account Executive", "Data Analyst", "Plant Manager"))
            p.el("p", f"{role}, {co.rng.choice(CITIES)}. Full time. Apply now")
    else:
        p.el("p", f"Join {co.employees:,} colleagues who are building what comes next. We offer competitive pay, "
                  "retirement savings, paid parental leave and tuition support.")


def _login(p: _Page, co: _Co) -> None:
    p.el("h1", "Customer login")
    p.el("form", "Email Password Sign in", ' action="/login" method="post"',
         '<label>Email</label> <input type="email" name="email"> <label>Password</label> '
         '<input type="password" name="password"> <button type="submit">Sign in</button>')
    p.el("p", "Forgot your password? Reset it here")


def _sitemap(p: _Page, co: _Co, urls: list[str]) -> None:
    p.el("h1", "Sitemap")
    p.raw("<ul>\n")
    for u in urls:
        p.link_item(u, u)
    p.raw("</ul>\n")


# --- sites ------------------------------------------------------------------------------------

def _file_for(path_and_query: str) -> str:
    if path_and_query in ("", "/"):
        return "index.html"
    name = path_and_query.strip("/").replace("?", "_q_")
    return re.sub(r"[^A-Za-z0-9._/-]", "_", name) + ".html"


def _norm(line: str) -> str:
    return " ".join(line.split()).casefold()


def build_site(co: _Co, company_id: str | None, index: int, seed: int, day_offset: int = 0,
               company_in_manifest: bool = True, with_pdf: bool = False) -> SampleSite:
    """One company's crawl with its ground truth."""
    tagline, products = CATALOGS[co.industry]
    street_no = co.rng.randint(100, 9800)
    street = co.rng.choice(STREETS)
    t = _Template(_nav(co), _legal_links(co), f"{street_no:,} {street}, {co.city}")
    news_titles = [f"{co.short} Opens New Facility to Meet Growing Demand",
                   f"{co.short} Reports Fourth Quarter and Full Year {FISCAL_YEAR} Results"]
    news = [(news_titles[0], "/news/2025/new-facility"), (news_titles[1], f"/news/2025/q4-fy{FISCAL_YEAR}-results")]
    plan: list[tuple[str, str, str, object]] = [
        ("/", "landing", KEPT, lambda p: _landing(p, co, products, tagline, news)),
        ("/about", "about", KEPT, lambda p: _about(p, co)),
        ("/products", "products", KEPT, lambda p: _products_index(p, co, products)),
        ("/investors", "investors", KEPT, lambda p: _investors(p, co)),
        (news[0][1], "news", KEPT, lambda p: _news(p, co, news_titles[0], 0)),
        (news[1][1], "news", KEPT, lambda p: _news(p, co, news_titles[1], 1)),
        ("/contact", "contact", KEPT, lambda p: _contact(p, co, street_no, street)),
        ("/newsletter/confirm", "template_only", "empty", lambda p: _newsletter_confirm(p, co)),
        ("/gallery", "gallery", "low_density", lambda p: _gallery(p, co, products)),
        ("/resources/downloads", "downloads", "low_density", lambda p: _downloads(p, co, products)),
        ("/locations", "locations", "low_density", lambda p: _locations(p, co)),
        ("/news/tag/company-news", "tag_archive", "low_density", lambda p: _tag_archive(p, co, news)),
        ("/careers/open-positions", "careers", "boilerplate_url", lambda p: _careers(p, co, True)),
    ]
    for prod in products:
        plan.append((f"/products/{prod.slug}", "product", KEPT, lambda p, prod=prod: _product(p, co, prod)))
    plan.append((f"/products/{products[0].slug}?utm_source=newsletter&utm_medium=email", "product_copy",
                 "near_duplicate", lambda p: _product(p, co, products[0])))
    if index % 2 == 0:
        plan.append((f"/products/{products[1].slug}/print", "product_print", "near_duplicate",
                     lambda p: _product(p, co, products[1], print_version=True)))
    for text, href in t.legal:
        kind = {"Careers": "careers", "Sitemap": "sitemap", "Customer login": "login"}.get(text, "legal")
        if kind == "careers":
            plan.append((href, kind, "boilerplate_url", lambda p: _careers(p, co, False)))
        elif kind == "sitemap":
            plan.append((href, kind, "boilerplate_url", lambda p: _sitemap(p, co, [u for u, *_ in plan])))
        elif kind == "login":
            plan.append((href, kind, "boilerplate_url", lambda p: _login(p, co)))
        else:
            plan.append((href, kind, "boilerplate_url", lambda p, text=text: _legal(p, co, text)))

    base = datetime(SNAPSHOT.year, SNAPSHOT.month, SNAPSHOT.day, 6, 0, tzinfo=timezone.utc) - timedelta(days=day_offset)
    pages: list[SamplePage] = []
    for k, (path, kind, expected, render) in enumerate(plan):
        p = _Page()
        title = "Home" if path == "/" else path.strip("/").split("/")[-1].split("?")[0].replace("-", " ").title()
        _header(p, co, t, title)
        render(p)
        _footer(p, co, t)
        url = f"https://{co.host}{path}"
        pages.append(SamplePage(url, _file_for(path), "".join(p.html).encode("utf-8"),
                                base + timedelta(minutes=3 * k, seconds=k * 7 % 60), kind, expected,
                                p.lines, p.template))
    if with_pdf:
        pdf = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
               b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
        path = f"/resources/{products[0].slug}-datasheet.pdf"
        pages.append(SamplePage(f"https://{co.host}{path}", path.strip("/"), pdf,
                                base + timedelta(minutes=3 * len(plan)), "pdf", "not_html", [], [], PDF_TYPE))
    pages.sort(key=lambda pg: pg.url)
    site = SampleSite(co.host, company_id, co.name, pages, [], SNAPSHOT - timedelta(days=day_offset),
                      company_in_manifest)
    site.template_lines = [x for x, tmpl in zip(site.landing.lines, site.landing.template) if tmpl]
    _check(site)
    return site


def _check(site: SampleSite) -> None:
    """Guard the truth: content lines never repeat a landing-page line, so the
    expected kept lines are exactly the non-template lines."""
    landing = site.landing
    landing_all = {_norm(x) for x in landing.lines}
    template = {_norm(x) for x in site.template_lines}
    for p in site.pages:
        if p.kind in ("landing", "pdf") or p.expected == "boilerplate_url":
            continue  # the landing page keeps everything; boilerplate pages are never read
        for line, tmpl in zip(p.lines, p.template):
            if tmpl:
                assert _norm(line) in template, f"{p.url}: template line {line!r} is not on the landing page"
            elif p.expected != "empty":
                assert _norm(line) not in landing_all, f"{p.url}: content line {line!r} repeats a landing-page line"


def generate_sites(n_companies: int = 3, seed: int = 0, orphan: bool = False) -> list[SampleSite]:
    """`n_companies` crawled sites (companies of etl.sample_corpus with the same
    seed), deterministic for `seed`; with `orphan`, one more small site that has
    no company."""
    ciks: set[str] = set()
    sites = []
    for i in range(n_companies):
        company = _company(i, seed, ciks)
        co = _co_for(company, seed)
        sites.append(build_site(co, company.cik, i, seed, day_offset=i, company_in_manifest=i % 2 == 0,
                                with_pdf=i == PDF_SITE_INDEX))
    if orphan:
        sites.append(_orphan_site(seed))
    return sites


def _orphan_site(seed: int) -> SampleSite:
    rng = random.Random(f"{seed}/orphan")
    co = _Co(None, "Harbor Lane Ceramics", "Harbor Lane", "harbor-lane.example", "retail", "Portland", 1998,
             24, 3, 4.0, 10, 2, None, None, rng)
    t = _Template(_nav(co), _legal_links(co), "12 Harbor Lane, Portland")
    pages = []
    for k, (path, text) in enumerate((("/", "Handmade stoneware for everyday meals, thrown and glazed in our "
                                            "studio since 1998."),
                                       ("/about", "We are a studio of potters who make plates, bowls and mugs "
                                                  "in small batches from local clay."))):
        p = _Page()
        _header(p, co, t, "Home" if path == "/" else "About")
        p.el("h1", "Harbor Lane Ceramics" if path == "/" else "About the studio")
        p.el("p", text)
        _footer(p, co, t)
        pages.append(SamplePage(f"https://{co.host}{path}", _file_for(path), "".join(p.html).encode("utf-8"),
                                datetime(2025, 2, 20, 9, k, tzinfo=timezone.utc), "landing" if path == "/" else "about",
                                KEPT, p.lines, p.template))
    site = SampleSite(co.host, None, co.name, pages, [], date(2025, 2, 20), company_in_manifest=False)
    site.template_lines = [x for x, tmpl in zip(site.landing.lines, site.landing.template) if tmpl]
    return site


# --- writing ------------------------------------------------------------------------------------

def write_site_folder(site: SampleSite, folder: Path | str) -> Path:
    """The crawl as `folder/manifest.json` plus one file per page."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for p in site.pages:
        f = folder / p.file
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(p.html)
    (folder / "manifest.json").write_text(json.dumps(site.manifest(), indent=1) + "\n", encoding="utf-8")
    return folder


def write_site_warc(site: SampleSite, path: Path | str) -> Path:
    """The crawl as one gzipped WARC: a request and a response record per page,
    plus what a crawler also stores and the reader must skip (robots.txt, an
    image, a redirect, a 404 page)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    host = f"https://{site.site}"
    with open(path, "wb") as out:
        w = WARCWriter(out, gzip=path.name.endswith(".gz"))
        w.write_record(w.create_warcinfo_record(path.name, {"software": "filingstore site_corpus",
                                                            "format": "WARC File Format 1.1"}))

        def response(url: str, when: datetime, status: str, ctype: str, body: bytes, extra=()) -> None:
            headers = StatusAndHeaders(status, [("Content-Type", ctype), ("Content-Length", str(len(body))),
                                                *extra], protocol="HTTP/1.1")
            req = StatusAndHeaders(f"GET {url[len(host):] or '/'} HTTP/1.1",
                                   [("Host", site.site), ("User-Agent", "filingstore-crawler/0.1")],
                                   is_http_request=True)
            date_hdr = {"WARC-Date": _iso(when)}
            w.write_record(w.create_warc_record(url, "request", http_headers=req, warc_headers_dict=date_hdr))
            w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=headers,
                                                warc_headers_dict=date_hdr))

        first = min(p.fetched_at for p in site.pages)
        response(f"{host}/robots.txt", first, "200 OK", "text/plain", b"User-agent: *\nDisallow: /login\n")
        for p in site.pages:
            response(p.url, p.fetched_at, "200 OK", p.content_type, p.html)
        response(f"{host}/static/img/logo.png", first, "200 OK", "image/png", b"\x89PNG\r\n\x1a\n" + bytes(64))
        response(f"{host}/home", first, "301 Moved Permanently", "text/html", b"<html><body>Moved</body></html>",
                 [("Location", f"{host}/")])
        response(f"{host}/old-catalog", first, "404 Not Found", "text/html; charset=utf-8",
                 b"<html><body><h1>Page not found</h1></body></html>")
    return path


def write_sites(out_dir: Path | str, n_companies: int = 3, seed: int = 0, warc: bool = True, orphan: bool = True,
                truth: bool = False) -> list[Path]:
    """Write each site under `out_dir/<site>/`: manifest.json + pages, except the
    company at WARC_SITE_INDEX, written as `<site>.warc.gz` when `warc` and
    warcio is installed; `out_dir/sites.json` maps every company site to its
    company id (sites whose manifest omits the company rely on it); with
    `orphan`, a site with no company anywhere; with `truth`,
    `out_dir/ground_truth.json` (keyed by site). Returns the site folders."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sites = generate_sites(n_companies, seed, orphan)
    try:
        import warcio  # noqa: F401
        can_warc = warc
    except ImportError:
        can_warc = False
    folders = []
    for i, s in enumerate(sites):
        folder = out / s.site
        if can_warc and i == WARC_SITE_INDEX and s.company_id is not None:
            folder.mkdir(parents=True, exist_ok=True)
            write_site_warc(s, folder / f"{s.site}.warc.gz")
        else:
            write_site_folder(s, folder)
        folders.append(folder)
    mapping = {s.site: s.company_id for s in sites if s.company_id is not None}
    (out / "sites.json").write_text(json.dumps(mapping, indent=1) + "\n", encoding="utf-8")
    if truth:
        data = {s.site: s.truth() for s in sites}
        (out / "ground_truth.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return folders
