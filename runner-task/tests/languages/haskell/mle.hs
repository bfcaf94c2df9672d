import qualified Data.Map.Strict as M
import Data.List (foldl')

main :: IO ()
main = print (M.size (foldl' (\m i -> M.insert i (show i) m) M.empty [1 :: Int ..]))
