# Tests of koppel-synth (synth/): determinism, ground-truth consistency, identifier validity.
koppel_unit_test(synth_test unit/synth_test.cc)
target_link_libraries(synth_test PRIVATE koppel_synth_lib)
