// A copy of catalogue/categories.yaml, so the core reads no file. A test holds the two
// equal: edit the YAML, then copy it here.
export const defaultCatalogueText = `# The catalogue of record categories Standing may hold. A policy's record type must
# name one of these categories; nothing else can be recorded. The catalogue is not part
# of any policy and no policy author can change it: it is published on the transparency
# portal with its version and hash, checked against the prohibited grounds when it is
# loaded, and changed only by a separate, journaled command.
#
# There is, on purpose, no category for a score, a tier, a rating of a person, a list
# membership or a name-screening result: such things are outcomes, never records.
#
# subjects: who a record of the category can be about: person, organisation or both.
# aliases: other names a policy may use for the same category; they are checked like
# the category's own name.
# A category for organisations only (a restaurant's hygiene inspection) is about
# premises and accounts, so health words in its record types are not read as a
# person's health.
catalogue: standing-record-categories
version: 2026.1.0
categories:
  civil-judgment:
    aliases: [civil-judgments, court-judgment, judgment-debt, judgment-enforcement, debt-enforcement]
    subjects: [person, organisation]
    description: A court's enforceable judgment in a civil case, its default by a debtor able to pay, and its fulfilment.
    basis: Civil procedure law on the enforcement of effective judgments (for example the Several Provisions of the Supreme People's Court on Restricting High Consumption of Judgment Debtors).
  litigation-conduct:
    aliases: [vexatious-litigation, abuse-of-process]
    subjects: [person, organisation]
    description: A court's finding that a party litigated in bad faith, vexatiously or in contempt of court.
    basis: Civil procedure rules on abuse of process, vexatious litigants and contempt of court.
  traffic:
    aliases: [traffic-offences, road-traffic, traffic-violations]
    subjects: [person]
    description: Road-traffic offences by road users (speeding, red lights, jaywalking), as recorded by the traffic police.
    basis: Road traffic law and its fixed-penalty provisions.
  driving-conduct:
    aliases: [driving, driving-offences, motoring-offences, driving-licence, licence-endorsements, endorsements, penalty-points]
    subjects: [person]
    description: Endorsable driving offences, penalty points on a driving licence and court disqualifications from driving.
    basis: Road Traffic Offenders Act 1988 (ss. 28-35) and equivalent road traffic legislation.
  driver-training:
    aliases: [driver-education]
    subjects: [person]
    description: Recognised driving qualifications and courses completed by a driver.
    basis: Rules of the licensing authority recognising advanced driving tests and driver-improvement courses.
  parking:
    aliases: [parking-penalties, parking-contraventions]
    subjects: [person, organisation]
    description: Penalty charge notices for parking contraventions, and their payment.
    basis: Traffic Management Act 2004, Part 6, and equivalent civil parking enforcement rules.
  aviation-conduct:
    aliases: [aviation, air-passenger-conduct]
    subjects: [person]
    description: Disruptive or unsafe conduct on board an aircraft or at the gate, as recorded by the carrier or the aviation authority.
    basis: Civil aviation passenger conduct rules and the Tokyo Convention on offences committed on board aircraft.
  rail-conduct:
    aliases: [rail, railway-conduct]
    subjects: [person]
    description: Offences on trains and at stations (disruptive conduct, safety breaches), as recorded by the railway.
    basis: Railway passenger conduct rules and railway byelaws.
  public-transport-fares:
    aliases: [fare-evasion, transit-fares, public-transport]
    subjects: [person]
    description: Fare evasion on public transport, penalty fares and their payment.
    basis: Public transport penalty fare regulations.
  library-loans:
    aliases: [library, libraries, library-fines, library-lending]
    subjects: [person]
    description: Items borrowed from a public library returned late or not at all, the fines charged and their payment.
    basis: The library authority's lending rules and scale of charges, made under its library byelaws.
  tax-compliance:
    aliases: [tax, taxation, tax-arrears, tax-debt, tax-filing]
    subjects: [person, organisation]
    description: Tax returns filed late or not at all, tax assessed and unpaid past its due date (arrears), and their settlement.
    basis: Tax administration law on filing obligations, late-payment penalties and the recovery of tax debts.
  social-insurance-contributions:
    subjects: [organisation]
    description: Employer contributions to social insurance withheld or paid late, and their settlement.
    basis: Social insurance law on employers' contribution obligations.
  financial-reporting:
    aliases: [company-filings, company-accounts, statutory-accounts, audit]
    subjects: [organisation]
    description: Statutory accounts and annual returns filed late, and the auditor's opinion on a company's accounts.
    basis: Company law on the filing of accounts and annual returns and on statutory audit.
  food-hygiene:
    aliases: [hygiene-inspection, restaurant-hygiene, food-hygiene-inspection, food-premises]
    subjects: [organisation]
    description: Hygiene inspections of food businesses (restaurants, shops, caterers), their findings and rating, and enforcement notices.
    basis: Food safety law (for example the Food Safety Act 1990 and Regulation (EC) No 852/2004 on the hygiene of foodstuffs) and the food hygiene rating scheme.
  food-safety:
    aliases: [food-standards]
    subjects: [organisation]
    description: Food safety offences by food businesses (unsafe food placed on the market, labelling and allergen offences, traceability failures).
    basis: Food safety law (for example Regulation (EC) No 178/2002 and the Food Safety Act 1990, ss. 7-8 and 14-15).
  workplace-safety:
    aliases: [occupational-safety, health-and-safety-at-work]
    subjects: [organisation]
    description: Inspections of workplaces for health and safety at work, improvement and prohibition notices, and reportable accidents.
    basis: Occupational health and safety law (for example the Health and Safety at Work etc. Act 1974).
  environmental-compliance:
    aliases: [environment, environmental, pollution, waste]
    subjects: [person, organisation]
    description: Breaches of environmental permits, pollution, illegal dumping and fly-tipping, and their remediation.
    basis: Environmental protection law on permits, pollution and waste.
  consumer-protection:
    aliases: [trading-standards, consumer-law]
    subjects: [organisation]
    description: Findings against traders of misleading or unfair commercial practices, unsafe products and unpaid consumer refunds.
    basis: Consumer protection law and the decisions of the consumer protection authority.
  public-procurement:
    aliases: [procurement]
    subjects: [organisation]
    description: Exclusion of suppliers from public contracts after bid rigging, fraud or serious breach of a public contract.
    basis: Public procurement law on the exclusion of suppliers.
  licensing-compliance:
    aliases: [licensing, licence-conditions]
    subjects: [person, organisation]
    description: Breaches of the conditions of a licence (premises, taxi, alcohol, trading licences) found by the licensing authority.
    basis: The licensing legislation under which the licence was granted.
  housing-tenancy:
    aliases: [housing, tenancy, rent-arrears, social-housing]
    subjects: [person, organisation]
    description: Rent arrears and possession orders made by a court for a tenancy with a landlord or housing association.
    basis: Housing law on possession proceedings and the recovery of rent arrears.
  building-safety:
    aliases: [fire-safety, building-control]
    subjects: [organisation]
    description: Building control and fire safety inspections of buildings, enforcement notices and their compliance.
    basis: Building regulations and fire safety law.
  customs-compliance:
    aliases: [customs]
    subjects: [person, organisation]
    description: Customs offences (undeclared goods, smuggling) and unpaid duties.
    basis: Customs law on declarations, duties and penalties.
  criminal-conviction:
    aliases: [conviction, criminal-record, fraud-conviction]
    subjects: [person, organisation]
    description: Convictions for offences of dishonesty and fraud (theft, fraud, forgery, bribery) by a criminal court, with the sentence.
    basis: Criminal procedure law and the rehabilitation-of-offenders rules that limit how long a conviction may be held.
  administrative-penalty:
    aliases: [administrative-fines, fines, public-fines]
    subjects: [person, organisation]
    description: Fines and penalties imposed by an administrative authority under a statute that allows them, and their payment.
    basis: The statute under which the penalty was imposed and the administrative procedure law that governs it.
  insolvency:
    aliases: [bankruptcy]
    subjects: [person, organisation]
    description: Bankruptcy orders, debt relief orders, individual voluntary arrangements, company liquidations and their discharge.
    basis: Insolvency law and the public insolvency register.
  professional-conduct:
    aliases: [professional-discipline, professional-misconduct]
    subjects: [person, organisation]
    description: Findings of misconduct by a statutory professional regulator (for lawyers, accountants, engineers, estate agents) and the sanctions imposed.
    basis: The statute establishing the professional regulator and its disciplinary rules.
  animal-welfare:
    aliases: [animal-welfare-offences]
    subjects: [person, organisation]
    description: Animal welfare offences, improvement notices and bans on keeping animals.
    basis: Animal welfare law (for example the Animal Welfare Act 2006).
  civic-contribution:
    aliases: [volunteering, civic-participation]
    subjects: [person]
    description: Voluntary contributions a person chooses to have recorded in their favour (registered volunteering hours, blood donation). Positive records only.
    basis: The subject's own consent, given to the registry that records the contribution.
`;
