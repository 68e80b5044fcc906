"""Controlled vocabularies of a diversion case, with their labels (EN; FR/ES via the catalogues).

One module for every list, so forms, validation, the API and the OpenAPI document agree.
Sources: ATT Art. 2(1), 3, 4, 11 (categories, response measures); the WGETI paper "Possible
measures to prevent and address diversion" (stages of the transfer chain, risk sources); the
domain notes in ``../shared/context/domain-notes.md`` §3. Codes are stable identifiers stored
in the database; labels are for people and may change.
"""

from __future__ import annotations

from forum.i18n import lazy_gettext as _l

DETECTION_STATUS = {
    "detected": _l("Detected diversion"),
    "suspected": _l("Suspected diversion"),
}
ITEM_CATEGORIES = {
    "battle_tanks": _l("Battle tanks (Art. 2(1)(a))"),
    "armoured_combat_vehicles": _l("Armoured combat vehicles (Art. 2(1)(b))"),
    "large_calibre_artillery": _l("Large-calibre artillery systems (Art. 2(1)(c))"),
    "combat_aircraft": _l("Combat aircraft (Art. 2(1)(d))"),
    "attack_helicopters": _l("Attack helicopters (Art. 2(1)(e))"),
    "warships": _l("Warships (Art. 2(1)(f))"),
    "missiles_launchers": _l("Missiles and missile launchers (Art. 2(1)(g))"),
    "small_arms_light_weapons": _l("Small arms and light weapons (Art. 2(1)(h))"),
    "ammunition": _l("Ammunition/munitions (Art. 3)"),
    "parts_components": _l("Parts and components (Art. 4)"),
}
TRANSFER_STAGES = {
    "pre_transfer": _l("Authorisation / before the transfer"),
    "in_transit": _l("In transit or trans-shipment"),
    "at_delivery": _l("At delivery"),
    "post_delivery_storage": _l("After delivery, in storage"),
    "post_delivery_disposal": _l("After delivery, at surplus or disposal"),
}
DIVERSION_METHODS = {
    "false_documentation": _l("False or forged end-use documentation"),
    "misleading_end_use": _l("Misleading end-use statement"),
    "unauthorised_retransfer": _l("Unauthorised re-transfer"),
    "stockpile_theft_loss": _l("Theft or loss from a stockpile"),
    "transit_loss": _l("Loss in transit"),
    "illicit_brokering": _l("Illicit brokering"),
    "concealment": _l("Concealment"),
    "corruption": _l("Corruption"),
    "other": _l("Other method"),
}
ACTOR_TYPES = {
    "state_official": _l("State official"),
    "broker": _l("Broker"),
    "carrier": _l("Carrier or freight forwarder"),
    "end_user_unit": _l("End-user unit"),
    "criminal_group": _l("Criminal group"),
    "armed_group": _l("Non-State armed group"),
    "private_company": _l("Private company"),
    "unknown": _l("Unknown actor"),
}
RED_FLAGS = {
    "end_use_unclear": _l("Buyer reluctant to state the end use"),
    "inconsistent_capability": _l("Items inconsistent with the buyer's activity"),
    "forwarder_as_destination": _l("Freight forwarder given as final destination"),
    "abnormal_route": _l("Abnormal routing"),
    "vague_delivery": _l("Vague delivery dates or places"),
    "cash_payment": _l("Unusual payment (e.g. cash)"),
    "declined_services": _l("Installation, training or maintenance declined"),
    "new_company": _l("Recently created company, no business history"),
    "evasive_reexport": _l("Evasive about re-export"),
    "document_anomalies": _l("Anomalies in documents, stamps or signatures"),
}
DETECTION_CHANNELS = {
    "customs": _l("Customs or border control"),
    "licensing_review": _l("Licensing authority review"),
    "post_shipment_check": _l("Post-shipment or on-site check"),
    "tracing": _l("Tracing request"),
    "intelligence": _l("Intelligence or law enforcement"),
    "partner_state": _l("Information from another State"),
    "open_source": _l("Open sources"),
    "other": _l("Other channel"),
}
RESPONSE_MEASURES = {
    "alert_states": _l("Alerted affected States (Art. 11(4))"),
    "examined_shipment": _l("Examined the diverted shipment (Art. 11(4))"),
    "investigation": _l("Investigation or law enforcement (Art. 11(4))"),
    "licence_denied": _l("Export refused or licence revoked (Art. 11(2))"),
    "mitigation_measures": _l("Mitigation measures or joint programmes (Art. 11(2))"),
    "additional_assurances": _l("Additional documents or assurances required (Art. 11(2))"),
    "none_yet": _l("No measure yet"),
}
SHARING_SCOPES = {
    "dief_plenary": _l("The DIEF plenary"),
    "own_region": _l("My region's room"),
    "working_group": _l("A working group"),
    "secretariat": _l("The Secretariat only"),
}
ATTRIBUTIONS = {
    "anonymous": _l("Anonymous (nobody can tell who or which State shared it)"),
    "secretariat_only": _l("Anonymous; the Secretariat may contact me through the receipt"),
    "attributed": _l("Attributed to my State (the State is shown, never my name)"),
}
QUANTITY_BANDS = {
    "1_10": _l("1 to 10 items"),
    "11_100": _l("11 to 100 items"),
    "101_1000": _l("101 to 1,000 items"),
    "over_1000": _l("More than 1,000 items"),
    "unknown": _l("Unknown quantity"),
}
TRANSPORT_MODES = {
    "air": _l("Air"),
    "sea": _l("Sea"),
    "road": _l("Road"),
    "rail": _l("Rail"),
    "postal_courier": _l("Postal or courier"),
    "multimodal": _l("Several modes"),
    "unknown": _l("Unknown mode"),
}
LANGUAGES = {"en": "English", "fr": "Français", "es": "Español"}

# Multi-valued fields and single-valued fields, by case attribute name.
MULTI = {
    "item_categories": ITEM_CATEGORIES,
    "diversion_methods": DIVERSION_METHODS,
    "actor_types": ACTOR_TYPES,
    "red_flags": RED_FLAGS,
    "response_measures": RESPONSE_MEASURES,
}
SINGLE = {
    "detection_status": DETECTION_STATUS,
    "transfer_stage": TRANSFER_STAGES,
    "detection_channel": DETECTION_CHANNELS,
    "sharing_scope": SHARING_SCOPES,
    "attribution": ATTRIBUTIONS,
    "quantity_band": QUANTITY_BANDS,
    "transport_mode": TRANSPORT_MODES,
    "language": LANGUAGES,
}

# Sensitive free-text fields: each is encrypted under the case's own data key.
SENSITIVE_FIELDS = {
    "narrative": _l("What happened"),
    "states_involved": _l("States involved (exporting, importing, transit)"),
    "named_entities": _l("Named entities (companies, brokers, persons, vessels, aircraft)"),
    "document_refs": _l("Document references (licences, end-user certificates, serial numbers)"),
    "dates_places": _l("Exact dates and places"),
    "investigation_status": _l("Investigation or prosecution status"),
    "item_model": _l("Item model and calibre"),
    "submitter_lessons": _l("Lessons you draw"),
}
# Fields whose lines are blind-indexed for cross-case correlation, and how they normalise.
INDEXED_FIELDS = {"named_entities": "name", "document_refs": "docref"}
