/*
 * Placeholder source of the microroute_shared target (libmicroroute.so).
 *
 * The code comes from libmicroroute.a, which cargo builds and which is linked
 * in whole (see CMakeLists.txt); CMake needs one source file to make a shared
 * library target out of it. ISO C wants a declaration in every translation
 * unit, hence the typedef.
 */
typedef int microroute_shared_stub;
