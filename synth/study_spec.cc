#include "synth/study_spec.h"

namespace koppel::synth {

std::string_view SnapshotStudySpec() {
  return R"yaml(# Multi-problem families in Almelo on the snapshot register of koppel-synth --dialects:
# analyses/almelo-mpg.yaml's households, indicators and count tables, with the register as an
# extract on 2014-12-31 (no address periods) that counts each person's moves in 2014. Its
# figures are truth/study.json's. Written by koppel-synth (docs/synth.md).
analysis: almelo-mpg-snapshot
title: Multi-problem families, Almelo (snapshot register)
reference_dates: [2014-12-31]

register:
  dataset: brp
  snapshot: 2014-12-31
  birth_date: geboortedatum
  area: wijk
  moves: verhuizingen
  adult_age: 18

areas:
  WK014100: Binnenstad
  WK014101: De Riet
  WK014102: Noorderkwartier
  WK014103: Sluitersveld
  WK014104: Wierdense Hoek
  WK014105: Nieuwstraat-Kwartier
  WK014106: Ossenkoppelerhoek
  WK014107: Hofkamp
  WK014108: Schelfhorst
  WK014109: Windmolenbroek
  WK014110: Aadorp
  WK014111: Bornerbroek

household_types:
  family: {adults: {min: 1}, children: {min: 1}}

populations:
  households: {}
  families: {household_type: family}

indicators:
  bijstand: {dataset: sociale_zaken, where: {regeling: [bijstand]}, spell: [start, eind]}
  ww: {dataset: uwv, where: {uitkering: [ww]}, spell: [start, eind]}
  disability: {dataset: uwv, where: {uitkering: [disability]}, spell: [start, eind]}
  other_social: {dataset: uwv, where: {uitkering: [other_social]}, spell: [start, eind]}
  low_income: {dataset: inkomen, where: {inkomen: {below: 9250}}, year: jaar}
  moves: {moves_at_least: 2}
  adult_basis_ggz:
    {dataset: zorg, where: {zorgsoort: [basis_ggz]}, year: jaar, members: adults}
  adult_specialist_ggz:
    {dataset: zorg, where: {zorgsoort: [specialist_ggz]}, year: jaar, members: adults}
  adult_awbz:
    dataset: zorg
    where: {zorgsoort: [awbz_psychosocial, awbz_intellectual, awbz_physical]}
    year: jaar
    members: adults
  adult_crime_suspect: {dataset: politie, date: pleegdatum, members: adults}
  youth_care: {dataset: jeugdzorg, spell: [start, eind], members: children}
  youth_ambulant:
    {dataset: jeugdzorg, where: {zorgvorm: [youth_ambulant]}, spell: [start, eind], members: children}
  youth_day_treatment:
    dataset: jeugdzorg
    where: {zorgvorm: [youth_day_treatment]}
    spell: [start, eind]
    members: children
  youth_probation:
    dataset: jeugdzorg
    where: {zorgvorm: [youth_probation]}
    spell: [start, eind]
    members: children
  youth_residential:
    dataset: jeugdzorg
    where: {zorgvorm: [youth_residential]}
    spell: [start, eind]
    members: children
  guardianship:
    {dataset: jeugdzorg, where: {zorgvorm: [guardianship]}, spell: [start, eind], members: children}
  foster_care:
    {dataset: jeugdzorg, where: {zorgvorm: [foster_care]}, spell: [start, eind], members: children}
  ots: {dataset: jeugdzorg, where: {zorgvorm: [ots]}, spell: [start, eind], members: children}
  child_basis_ggz:
    {dataset: zorg, where: {zorgsoort: [basis_ggz]}, year: jaar, members: children}
  child_specialist_ggz:
    {dataset: zorg, where: {zorgsoort: [specialist_ggz]}, year: jaar, members: children}
  child_awbz:
    dataset: zorg
    where: {zorgsoort: [awbz_psychosocial, awbz_intellectual, awbz_physical]}
    year: jaar
    members: children
  child_crime_suspect: {dataset: politie, date: pleegdatum, members: children}
  youth_care_2y: {dataset: jeugdzorg, spell: [start, eind], year_offset: -2}
  care_2y: {dataset: zorg, year: jaar, year_offset: -2}
  youth_care_1y: {dataset: jeugdzorg, spell: [start, eind], year_offset: -1}
  care_1y: {dataset: zorg, year: jaar, year_offset: -1}

flags:
  socio_economic: {any: [bijstand, ww, disability, other_social, low_income, moves]}
  psychosocial_adults:
    any: [adult_basis_ggz, adult_specialist_ggz, adult_awbz, adult_crime_suspect]
  psychosocial_children:
    any: [youth_care, youth_ambulant, youth_day_treatment, youth_probation, youth_residential,
          guardianship, foster_care, ots, child_basis_ggz, child_specialist_ggz, child_awbz,
          child_crime_suspect]
  all_three: {all: [socio_economic, psychosocial_adults, psychosocial_children]}
  support_2012: {any: [youth_care_2y, care_2y]}
  support_2013: {any: [youth_care_1y, care_1y]}
  chronic: {all: [support_2012, support_2013]}
  mpg: {all: [all_three, chronic]}

tables:
  - name: table1_socio_economic
    title: "Table 1: socio-economic problems of families, per wijk, 2014"
    population: families
    rows: area
    total: Almelo totaal
    columns:
      - {label: families_N}
      - {label: any, count: socio_economic, percent: true}
      - {label: bijstand, count: bijstand, percent: true}
      - {label: moves, count: moves, percent: true}
      - {label: ww, count: ww, percent: true}
      - {label: other_social, count: other_social, percent: true}
      - {label: disability, count: disability, percent: true}
      - {label: low_income, count: low_income, percent: true}

  - name: table2_psychosocial_adults
    title: "Table 2: psychosocial problems of adults in families, per wijk, 2014"
    population: families
    rows: area
    total: Almelo totaal
    columns:
      - {label: families_N}
      - {label: any, count: psychosocial_adults, percent: true}
      - {label: basis_ggz, count: adult_basis_ggz, percent: true}
      - {label: specialist_ggz, count: adult_specialist_ggz, percent: true}
      - {label: crime_suspect, count: adult_crime_suspect, percent: true}
      - {label: awbz, count: adult_awbz, percent: true}

  - name: table3_psychosocial_children_youthcare
    title: "Table 3: psychosocial problems of children (youth care), per wijk, 2014"
    population: families
    rows: area
    total: Almelo totaal
    columns:
      - {label: families_N}
      - {label: any, count: psychosocial_children, percent: true}
      - {label: youth_ambulant, count: youth_ambulant, percent: true}
      - {label: youth_day_treatment, count: youth_day_treatment, percent: true}
      - {label: youth_probation, count: youth_probation, percent: true}
      - {label: youth_residential, count: youth_residential, percent: true}
      - {label: youth_care, count: youth_care, percent: true}

  - name: table4_psychosocial_children_other
    title: "Table 4: other psychosocial problems of children, per wijk, 2014"
    population: families
    rows: area
    total: Almelo totaal
    columns:
      - {label: families_N}
      - {label: basis_ggz, count: child_basis_ggz, percent: true}
      - {label: specialist_ggz, count: child_specialist_ggz, percent: true}
      - {label: guardianship, count: guardianship, percent: true}
      - {label: foster_care, count: foster_care, percent: true}
      - {label: ots, count: ots, percent: true}
      - {label: crime_suspect, count: child_crime_suspect, percent: true}
      - {label: awbz, count: child_awbz, percent: true}

  - name: table5_overlap
    title: "Table 5: overlap of the three problem domains, families, 2014"
    kind: overlap
    population: families
    flags: [socio_economic, psychosocial_adults, psychosocial_children]

  - name: table5_support_years
    title: "Table 5: families with support in the two previous years"
    population: families
    rows:
      - {label: "2012", count: support_2012}
      - {label: "2013", count: support_2013}
      - {label: both 2012 and 2013, count: chronic}
    columns:
      - {label: families_with_support}
      - {label: of_which_problems_in_all_three_domains, count: all_three}

  - name: mpg_per_wijk
    title: "Multi-problem families per wijk, 2014 (percent of households)"
    population: households
    rows: area
    total: Almelo totaal
    columns:
      - {label: households_N}
      - {label: families, where: {household_type: family}}
      - {label: mpg, count: mpg, percent: true}
)yaml";
}

}  // namespace koppel::synth
