/* nest_levels.h — NEST_LEVELS_40(M) and NEST_LEVELS_70(M) expand to M(1, 0) M(2, 1)
 * ... M(n, n - 1): the levels of state nested n deep, M(k, k - 1) defining level k
 * from level k - 1 (NEST_L_AND_K below is the M both use). Shared by the programs that test deep nesting:
 * dwarfmeta/tests/programs/deep.c (the plan reports a change 40 levels down) and
 * stfw/tests/programs/deep/deep.c (the transfer engine's nesting limit). */
#ifndef TTST_TESTS_NEST_LEVELS_H
#define TTST_TESTS_NEST_LEVELS_H

#define NEST_LEVELS_40(M) \
  M(1, 0) M(2, 1) M(3, 2) M(4, 3) M(5, 4) M(6, 5) M(7, 6) M(8, 7) M(9, 8) M(10, 9) \
  M(11, 10) M(12, 11) M(13, 12) M(14, 13) M(15, 14) M(16, 15) M(17, 16) M(18, 17) M(19, 18) M(20, 19) \
  M(21, 20) M(22, 21) M(23, 22) M(24, 23) M(25, 24) M(26, 25) M(27, 26) M(28, 27) M(29, 28) M(30, 29) \
  M(31, 30) M(32, 31) M(33, 32) M(34, 33) M(35, 34) M(36, 35) M(37, 36) M(38, 37) M(39, 38) M(40, 39)

#define NEST_LEVELS_70(M) \
  NEST_LEVELS_40(M) \
  M(41, 40) M(42, 41) M(43, 42) M(44, 43) M(45, 44) M(46, 45) M(47, 46) M(48, 47) M(49, 48) M(50, 49) \
  M(51, 50) M(52, 51) M(53, 52) M(54, 53) M(55, 54) M(56, 55) M(57, 56) M(58, 57) M(59, 58) M(60, 59) \
  M(61, 60) M(62, 61) M(63, 62) M(64, 63) M(65, 64) M(66, 65) M(67, 66) M(68, 67) M(69, 68) M(70, 69)

/* The two chains both programs nest: struct L<k> and struct K<k>, each holding its
 * level k - 1 as member `in` (L0 and K0, the bottoms, are each program's own). */
#define NEST_L_AND_K(n, m) \
  struct L##n {            \
    struct L##m in;        \
  };                       \
  struct K##n {            \
    struct K##m in;        \
  };

#endif
