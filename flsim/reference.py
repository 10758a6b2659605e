"""The reference implementation's own run, quoted from its saved outputs (chapter 4, the CIFAR-10 appendix).

Not computed by flsim: these are the numbers the reference notebook
(``FL_with_backdoor.ipynb`` in the public repository
``ArcelikAcikKaynak/Federated_Learning``) printed when its authors ran it on
CIFAR-10 with 10 clients, all chosen every round, 25 rounds of 2 local epochs,
one attacker (client 0, racing-stripe cars labelled bird) and r = 10. They are
the yardstick the book sets its own runs beside.
"""

from __future__ import annotations

import pandas as pd

SOURCE = "the reference notebook's saved outputs (FL_with_backdoor.ipynb, ArcelikAcikKaynak/Federated_Learning)"
BACKDOOR_IMAGES = 22  # the racing-stripe cars the backdoor accuracy is measured on

# Per round 1..25: the global model's test accuracy ("main task accuracy"), the backdoor images
# it calls "bird" (backdoor accuracy x 22), and every client's output-bias statistic
# max_j |b_kj - mean b_j| ("history maxdeviation"), client 0 first.
TEST_ACCURACY = (0.3843, 0.4095, 0.4394, 0.4653, 0.4771, 0.4880, 0.5062, 0.5221, 0.5292, 0.5404, 0.5499, 0.5575, 0.5678, 0.5707, 0.5780, 0.5857, 0.5938, 0.5968, 0.5996, 0.6018, 0.6086, 0.6104, 0.6101, 0.6151, 0.6206)
BACKDOOR_HITS = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3)
OUTPUT_BIAS_MAX = (
    (0.0083645, 0.0028148, 0.0025494, 0.0023411, 0.0024938, 0.0017889, 0.0026733, 0.0028524, 0.0029857, 0.0025496),
    (0.0070137, 0.0020162, 0.0023145, 0.0016547, 0.0023230, 0.0023864, 0.0022997, 0.0022128, 0.0037245, 0.0022063),
    (0.0058828, 0.0026692, 0.0011896, 0.0025425, 0.0021483, 0.0024855, 0.0024576, 0.0017238, 0.0016960, 0.0024950),
    (0.0045453, 0.0010292, 0.0014452, 0.0016345, 0.0027282, 0.0022521, 0.0019032, 0.0024783, 0.0023141, 0.0021951),
    (0.0028426, 0.0020415, 0.0011905, 0.0017889, 0.0024231, 0.0023177, 0.0019149, 0.0019175, 0.0023521, 0.0028341),
    (0.0021760, 0.0018073, 0.0018260, 0.0012179, 0.0018954, 0.0020514, 0.0017588, 0.0023278, 0.0022627, 0.0029015),
    (0.0011412, 0.0020177, 0.0016792, 0.0012094, 0.0021761, 0.0020620, 0.0016095, 0.0024109, 0.0018492, 0.0026668),
    (0.0014007, 0.0023028, 0.0015456, 0.0007807, 0.0028214, 0.0019961, 0.0023093, 0.0022437, 0.0016614, 0.0020991),
    (0.0014216, 0.0019106, 0.0012954, 0.0014123, 0.0020903, 0.0019862, 0.0028029, 0.0020536, 0.0022472, 0.0015652),
    (0.0018094, 0.0022714, 0.0016028, 0.0010521, 0.0018837, 0.0024408, 0.0017901, 0.0020039, 0.0015598, 0.0023417),
    (0.0016443, 0.0019515, 0.0017074, 0.0015522, 0.0019837, 0.0026416, 0.0013246, 0.0024132, 0.0013649, 0.0017506),
    (0.0015069, 0.0020311, 0.0022446, 0.0016171, 0.0023396, 0.0019164, 0.0021666, 0.0015630, 0.0023826, 0.0019289),
    (0.0015011, 0.0021895, 0.0018456, 0.0013990, 0.0014804, 0.0020308, 0.0022006, 0.0023623, 0.0021183, 0.0018517),
    (0.0018620, 0.0022390, 0.0016723, 0.0014802, 0.0015517, 0.0018776, 0.0016085, 0.0020855, 0.0024888, 0.0019081),
    (0.0015837, 0.0019981, 0.0015434, 0.0018739, 0.0013159, 0.0020603, 0.0016703, 0.0019582, 0.0018579, 0.0015725),
    (0.0027229, 0.0020634, 0.0013475, 0.0023315, 0.0013236, 0.0016453, 0.0013437, 0.0021740, 0.0023879, 0.0016423),
    (0.0015132, 0.0014294, 0.0018741, 0.0017287, 0.0021865, 0.0020031, 0.0022830, 0.0020719, 0.0027788, 0.0022516),
    (0.0014140, 0.0016327, 0.0021571, 0.0015916, 0.0018767, 0.0013726, 0.0022559, 0.0017977, 0.0030505, 0.0009369),
    (0.0019182, 0.0015705, 0.0017216, 0.0016360, 0.0015462, 0.0013683, 0.0023784, 0.0012999, 0.0015082, 0.0016576),
    (0.0022606, 0.0016089, 0.0020337, 0.0015319, 0.0018639, 0.0018944, 0.0020094, 0.0018180, 0.0021726, 0.0014569),
    (0.0019801, 0.0022197, 0.0016157, 0.0013234, 0.0021845, 0.0012603, 0.0018577, 0.0016630, 0.0023841, 0.0018654),
    (0.0021561, 0.0015834, 0.0018736, 0.0013419, 0.0016225, 0.0013316, 0.0022291, 0.0016848, 0.0015283, 0.0022179),
    (0.0015931, 0.0015145, 0.0015462, 0.0016429, 0.0014299, 0.0010652, 0.0019913, 0.0020774, 0.0023997, 0.0018103),
    (0.0014921, 0.0017593, 0.0021075, 0.0012571, 0.0020823, 0.0013608, 0.0024069, 0.0015348, 0.0025659, 0.0016356),
    (0.0018484, 0.0016567, 0.0019295, 0.0012404, 0.0022857, 0.0017078, 0.0016146, 0.0017771, 0.0031492, 0.0018423),
)


def reference_rounds() -> pd.DataFrame:
    """The reference run per round: test and backdoor accuracy, the attacker's output-bias
    statistic, the honest clients' mean of it, their ratio and the attacker's rank among the
    10 clients (1: the largest)."""
    rows = []
    for round_, (accuracy, hits, values) in enumerate(zip(TEST_ACCURACY, BACKDOOR_HITS, OUTPUT_BIAS_MAX), 1):
        attacker, honest = values[0], values[1:]
        mean = sum(honest) / len(honest)
        rows.append(dict(round=round_, main_accuracy=accuracy, backdoor_accuracy=hits / BACKDOOR_IMAGES,
                         attacker=attacker, honest_mean=mean, ratio=attacker / mean,
                         attacker_rank=1 + sum(value > attacker for value in honest)))
    return pd.DataFrame(rows)
