// Placeholder for the I/O layer of issue 15 (being written).
#ifndef KOPPEL_CORE_FILE_H_
#define KOPPEL_CORE_FILE_H_
#endif  // KOPPEL_CORE_FILE_H_
